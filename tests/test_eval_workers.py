"""Where pairs run: worker processes and Ray tasks give the one-process verdicts and
traces, and evaluators started at once on one output folder run every pair once."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from support import agentlab
from test_eval_cli import SLOW_DRIVER, VARIANTS, eval_args, math_cassettes
from test_eval_harness import SUITE, cassettes, traces_by_pair

from agentlab.eval import EvalSettings, Evaluation, load_suite
from agentlab.eval.claims import CLAIMS_DIR
from agentlab.trace import read_ends

MINI_VARIANTS = ("reflection-always", "no-reflection")
WRONG = {("sub", "reflection-always"), ("add", "no-reflection")}


def run(tmp_path: Path, out: str, **settings: object) -> dict[tuple[str, str], str | None]:
    results = Evaluation(
        SUITE,
        EvalSettings(
            variants=MINI_VARIANTS,
            out_dir=tmp_path / out,
            model=f"replay:{tmp_path / 'cassettes'}",
            **settings,  # type: ignore[arg-type]
        ),
    ).run()
    return {(r.task_id, r.variant): r.outcome for r in results}


def test_worker_processes_give_the_one_process_verdicts_and_traces(tmp_path: Path) -> None:
    cassettes(tmp_path / "cassettes", MINI_VARIANTS, wrong=WRONG)
    alone = run(tmp_path, "alone")
    assert run(tmp_path, "workers", jobs=2) == alone
    assert sorted(k for k, v in alone.items() if v == "fail") == sorted(WRONG)
    assert traces_by_pair(tmp_path / "workers") == traces_by_pair(tmp_path / "alone")


@pytest.mark.slow
def test_a_local_ray_cluster_gives_the_one_process_verdicts_and_traces(tmp_path: Path) -> None:
    cassettes(tmp_path / "cassettes", MINI_VARIANTS, wrong=WRONG)
    alone = run(tmp_path, "alone", record_dir=tmp_path / "recorded-alone")
    on_ray = run(tmp_path, "ray", jobs=2, ray="local", record_dir=tmp_path / "recorded-ray")
    assert on_ray == alone and len(alone) == 6
    # The Ray tasks ran in scratch folders; their traces and cassettes came back here.
    assert traces_by_pair(tmp_path / "ray") == traces_by_pair(tmp_path / "alone")
    recorded = sorted(
        p.relative_to(tmp_path / "recorded-ray")
        for p in (tmp_path / "recorded-ray").rglob("*.jsonl")
    )
    assert recorded == sorted(
        p.relative_to(tmp_path / "recorded-alone")
        for p in (tmp_path / "recorded-alone").rglob("*.jsonl")
    )
    assert len(recorded) == 6


@pytest.mark.slow
def test_two_evaluators_started_at_once_on_one_folder_run_every_pair_once(
    tmp_path: Path,
) -> None:
    cassettes_dir = math_cassettes(tmp_path / "cassettes")
    runs = tmp_path / "runs"
    driver = tmp_path / "slow_agentlab.py"
    driver.write_text(SLOW_DRIVER)  # each model reply takes 0.2 s, so the two overlap
    env = {**os.environ, "COLUMNS": "200"}
    evaluators = [
        subprocess.Popen(
            [sys.executable, str(driver), *eval_args(cassettes_dir, runs)],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    outputs = [e.communicate(timeout=300) for e in evaluators]
    assert [e.returncode for e in evaluators] == [0, 0], outputs
    pairs = {(t.id, v) for t in load_suite("math").tasks for v in VARIANTS}
    ran = Counter()
    for path in runs.glob("*.jsonl"):
        header, footer = read_ends(path)
        assert header is not None and footer is not None and footer.verdict is not None
        assert footer.verdict.outcome == "pass"
        ran[(header.task_id, header.variant)] += 1
    assert ran == Counter(dict.fromkeys(pairs, 1))
    # Both took part: each claimed some of the pairs, and said the rest were the other's.
    holders = Counter(
        json.loads(p.read_text())["owner"].split(":")[1] for p in (runs / CLAIMS_DIR).iterdir()
    )
    assert sorted(holders) == sorted(str(e.pid) for e in evaluators)
    assert sum(holders.values()) == len(pairs)
    for (stdout, _), evaluator in zip(outputs, evaluators, strict=True):
        # What the other one ran: claimed under this one's feet, or finished before it began.
        others = len(pairs) - holders[str(evaluator.pid)]
        begun = re.search(r"(\d+) already finished", stdout)
        assert begun is not None, stdout
        skipped = others - int(begun.group(1))
        if skipped:
            assert f"{skipped} pair(s) were claimed by another evaluator" in stdout
    again = agentlab(*eval_args(cassettes_dir, runs), cwd=tmp_path)
    assert again.returncode == 0 and f"{len(pairs)} already finished" in again.stdout
