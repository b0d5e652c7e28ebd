"""`agentlab eval` and `agentlab failures` as a user runs them: real subprocesses."""

from __future__ import annotations

import csv
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import agentlab, finish, plan, step, write_cassette

from agentlab.eval import cassette_path, load_suite
from agentlab.eval.harness import finished_pairs
from agentlab.trace import read_ends

VARIANTS = ("reflection-always", "no-reflection")
SLOW_DRIVER = """
import sys, time
from agentlab.llm import replay

original = replay.ReplayChatModel._generate

def slow(self, *args, **kwargs):
    time.sleep(0.2)
    return original(self, *args, **kwargs)

replay.ReplayChatModel._generate = slow
from agentlab.cli import main
sys.argv = ["agentlab", *sys.argv[1:]]
main()
"""


def math_cassettes(root: Path) -> Path:
    """Right answers for the shipped math suite: one calculator step answering from its
    template (`reflection-always` then has the reflector finish too)."""
    for task in load_suite("math").tasks:
        value = task.check.value  # type: ignore[union-attr]
        answer = str(int(value)) if float(value).is_integer() else str(value)
        for variant in VARIANTS:
            path = cassette_path(root, variant, task.id)
            path.parent.mkdir(parents=True, exist_ok=True)
            replies = [plan(step("s1", "calculator", expression=f"{answer}*1"), answer="${s1}")]
            if variant == "reflection-always":
                replies.append(finish(answer))
            write_cassette(path, *replies)
    return root


def eval_args(cassettes: Path, runs: Path) -> list[str]:
    return [
        "eval",
        "math",
        *(a for v in VARIANTS for a in ("-v", v)),
        "--model",
        f"replay:{cassettes}",
        "--out",
        str(runs),
    ]


@pytest.mark.slow
def test_killed_eval_resumes_with_only_the_missing_pairs(tmp_path: Path) -> None:
    cassettes = math_cassettes(tmp_path / "cassettes")
    runs = tmp_path / "runs"
    driver = tmp_path / "slow_agentlab.py"
    driver.write_text(SLOW_DRIVER)
    process = subprocess.Popen(
        [sys.executable, str(driver), *eval_args(cassettes, runs)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while len(finished_pairs(runs)) < 8:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert time.monotonic() < deadline, "the eval did not progress"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    before = finished_pairs(runs)
    traces_before = set(runs.glob("*.jsonl"))
    total = len(load_suite("math").tasks) * len(VARIANTS)
    assert 8 <= len(before) < total

    done = agentlab(*eval_args(cassettes, runs), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"{len(before)} already finished" in done.stdout
    new = set(runs.glob("*.jsonl")) - traces_before
    assert len(new) == total - len(before)
    new_pairs = set()
    for path in new:
        header, footer = read_ends(path)
        assert header is not None and footer is not None and footer.verdict.outcome == "pass"
        new_pairs.add((header.task_id, header.variant))
    assert new_pairs.isdisjoint(before)
    assert finished_pairs(runs) == {(t.id, v) for t in load_suite("math").tasks for v in VARIANTS}

    again = agentlab(*eval_args(cassettes, runs), cwd=tmp_path)
    assert again.returncode == 0 and f"{total} already finished" in again.stdout
    assert set(runs.glob("*.jsonl")) == traces_before | new

    report = agentlab(
        "failures", str(runs), "--by", "variant", "--csv", str(tmp_path / "csv"), cwd=tmp_path
    )
    assert report.returncode == 0, report.stderr
    killed = len(traces_before) - len(before)  # the run in flight when killed, if it had started
    assert f"{total} runs ({killed} incomplete, 0 superseded" in report.stdout
    with (tmp_path / "csv" / "variants.csv").open() as handle:
        rows = {r["variant"]: r for r in csv.DictReader(handle)}
    assert {v: (rows[v]["graded"], rows[v]["passed"]) for v in VARIANTS} == {
        v: (str(len(load_suite("math").tasks)),) * 2 for v in VARIANTS
    }


def test_eval_usage_errors_exit_2(tmp_path: Path) -> None:
    done = agentlab("eval", "math", "-v", "no-abacus", "--model", "replay:x", cwd=tmp_path)
    assert done.returncode == 2 and "unknown variant 'no-abacus'" in done.stderr
    missing = agentlab("failures", str(tmp_path / "nothing"), cwd=tmp_path)
    assert missing.returncode == 2 and "neither a trace file nor a directory" in missing.stderr
