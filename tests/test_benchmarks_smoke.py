"""Benchmarks that cannot rot: every script under benchmarks/ runs in its `--smoke` mode
(tiny sizes, a replayed model, seconds), as a real process, so a change that breaks a
benchmark fails here. Scripts that need Docker or the embedded model say so by marker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
HELPERS = {"machine.py", "smoke.py", "decoding_worker.py"}
"""Modules the scripts import or processes they start; not benchmarks themselves."""
MARKS = {
    "sandbox_latency.py": [pytest.mark.docker],
    "local_model.py": [pytest.mark.local_model],
    "decoding.py": [pytest.mark.local_model],
    "postgres_recall.py": [pytest.mark.slow],
    "failures_report.py": [pytest.mark.slow],
    "vs_baselines.py": [pytest.mark.slow],
}
SCRIPTS = sorted(p.name for p in BENCHMARKS.glob("*.py") if p.name not in HELPERS)


def test_every_script_has_a_smoke_mode() -> None:
    assert len(SCRIPTS) >= 9
    for name in SCRIPTS:
        assert "add_smoke(parser)" in (BENCHMARKS / name).read_text(), f"{name} has no --smoke"


@pytest.mark.parametrize(
    "script", [pytest.param(name, marks=MARKS.get(name, []), id=name) for name in SCRIPTS]
)
def test_smoke_run(script: str) -> None:
    # Each smoke run parses the traces it wrote before it cleans up (benchmarks/smoke.py).
    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--smoke"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, f"{script} --smoke failed:\n{done.stdout}\n{done.stderr}"
    assert done.stdout.strip(), f"{script} --smoke printed nothing"


def test_smoke_never_writes_the_docs() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "search.py"), "--smoke", "--write-docs"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0 and "measures nothing" in done.stderr
