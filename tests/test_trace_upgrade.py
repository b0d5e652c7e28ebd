"""`agentlab traces upgrade`: traces of the format before typed events (v1) become current.

The fixture under tests/data/traces-v1: `eval/` holds six runs that agentlab 0.1
(commit a710916) wrote for `agentlab eval` of two arithmetic tasks under `full`,
`no-validator` and `react`, with model messages cut short; `cli/` holds two CLI
runs written by hand in the same format (resumed then interrupted; crashed with
memory events). Nothing here is copied into a test's folder unless it is upgraded
there, so every trace the suite leaves behind is current.
"""

from __future__ import annotations

import csv
import json
import shutil
import stat
from pathlib import Path

import pytest
from support import agentlab, of_type, write_cassette

from agentlab.errors import TraceError
from agentlab.eval.checks import SandboxCodeRunner
from agentlab.eval.suite import NumericCheck, Task
from agentlab.eval.verdict import RunRecord, judge
from agentlab.events import (
    SCHEMA_VERSION,
    UPGRADE_HINT,
    Footer,
    Graded,
    Header,
    HistoryTrimmed,
    InternalError,
    MemoryFault,
    MemoryRecalled,
    MemoryStored,
    NodeStep,
    PlanMade,
    Reflected,
    Resumed,
    TraceEvent,
)
from agentlab.failures import FailureCategory, FailureEvent
from agentlab.stops import Answered, Budget, Errored, Interrupted
from agentlab.trace import read_trace
from agentlab.trace_upgrade import upgrade_file

V1 = Path(__file__).resolve().parent / "data" / "traces-v1"
TASKS = {
    "t1": Task(id="t1", prompt="What is 17*23?", check=NumericCheck(value=391)),
    "t2": Task(id="t2", prompt="What is 2**10?", check=NumericCheck(value=1024)),
}


def upgraded(tmp_path: Path) -> Path:
    out = tmp_path / "upgraded"
    done = agentlab("traces", "upgrade", str(V1), "--out", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "8 upgraded, 0 already current, 0 not traces (left alone), 0 failed" in done.stdout
    return out


def by_name(folder: Path) -> dict[str, list[TraceEvent]]:
    return {p.name: read_trace(p) for p in sorted(folder.rglob("*.jsonl"))}


def test_a_v1_trace_is_refused_with_the_command_that_converts_it() -> None:
    for path in V1.rglob("*.jsonl"):
        with pytest.raises(TraceError) as refused:
            read_trace(path)
        assert str(refused.value) == UPGRADE_HINT.format(where=path, path=path)
        assert "agentlab traces upgrade" in str(refused.value)


def test_every_v1_trace_upgrades_to_typed_events(tmp_path: Path) -> None:
    traces = by_name(upgraded(tmp_path))
    assert len(traces) == 8
    for events in traces.values():
        assert isinstance(events[0], Header) and events[0].schema_version == SCHEMA_VERSION
        assert isinstance(events[-1], Footer)
        # Nothing lost: every v1 line is still there (plans and reflections split out).
    for name, events in traces.items():
        source = next(V1.rglob(name))
        lines = source.read_text().splitlines()
        added = len(of_type(events, PlanMade)) + len(of_type(events, Reflected))
        assert len(events) == len(lines) + added, name

    full_t1 = traces["full-t1.jsonl"]
    plan_at = next(i for i, e in enumerate(full_t1) if isinstance(e, PlanMade))
    node = full_t1[plan_at + 1]
    assert isinstance(node, NodeStep) and node.node == "planner"
    made = full_t1[plan_at]
    assert isinstance(made, PlanMade)
    assert (made.source, made.version, made.plan.steps[0].args) == (
        "plan",
        1,
        {"expression": "17*23"},
    )
    assert [r.reflection.answer for r in of_type(full_t1, Reflected)] == ["391"]
    assert full_t1[0].architecture == "agentlab"  # type: ignore[union-attr]
    assert full_t1[-1].stop == Answered()  # type: ignore[union-attr]

    budget = traces["full-t2.jsonl"]
    assert [p.version for p in of_type(budget, PlanMade)] == [1, 2, 3, 4]
    footer = budget[-1]
    assert isinstance(footer, Footer)
    assert footer.stop == Budget(budget="replans", used=3, limit=3)
    assert footer.status == "budget_exhausted"
    assert footer.verdict is not None and footer.verdict.outcome == "fail"

    errored = traces["no-validator-t1.jsonl"][-1]
    assert isinstance(errored, Footer) and isinstance(errored.stop, Errored)
    assert errored.stop.category is FailureCategory.MODEL_API_ERROR

    assert traces["react-t1.jsonl"][0].architecture == "react"  # type: ignore[union-attr]

    resumed = traces["resumed-interrupted.jsonl"]
    assert resumed[-1].stop == Interrupted() and not resumed[-1].finished  # type: ignore[union-attr]
    assert of_type(resumed, Resumed)[0].completed_steps == ["s1"]
    assert of_type(resumed, HistoryTrimmed)[0].cut == 4
    assert of_type(resumed, MemoryRecalled)[0].memories[0].score == 0.61
    assert [p.plan.steps[1].tool for p in of_type(resumed, PlanMade)] == ["python"]

    crashed = traces["crashed.jsonl"]
    assert of_type(crashed, InternalError)[0].detail == "internal error: KeyError: 'x'"
    assert of_type(crashed, MemoryFault)[0].node == "remember"
    assert of_type(crashed, MemoryStored)[0].memories[0].kind == "fact"
    last = crashed[-1]
    assert isinstance(last, Footer) and last.stop == Errored(detail="internal error: KeyError: 'x'")
    assert last.counters.llm_calls == 1 and last.seconds == 0.0


def test_grading_an_upgraded_trace_gives_the_verdict_v1_wrote(tmp_path: Path) -> None:
    # The plans and reflections moved out of node events are where grading looks for them.
    for name, events in by_name(upgraded(tmp_path) / "eval").items():
        footer = events[-1]
        assert isinstance(footer, Footer) and footer.verdict is not None
        graded_at = next(i for i, e in enumerate(events) if isinstance(e, Graded))
        record = RunRecord.from_events([*events[:graded_at], footer])  # as eval saw the run
        task = TASKS[str(record.task_id)]
        judgement = judge(task, record, SandboxCodeRunner(), suite="suite")
        assert judgement.verdict.outcome == footer.verdict.outcome, name
        written = {str(e.category) for e in of_type(events, FailureEvent) if e.node == "eval"}
        assert {str(f.category) for f in judgement.failures} == written, name


def test_failures_report_refuses_v1_then_reads_the_upgrade(tmp_path: Path) -> None:
    before = agentlab("failures", str(V1 / "eval"), cwd=tmp_path)
    assert before.returncode == 2
    message = " ".join(before.stderr.split())  # rich wraps long lines
    assert "convert it with `agentlab traces upgrade" in message and "Traceback" not in message

    out = upgraded(tmp_path)
    after = agentlab("failures", str(out / "eval"), "--csv", str(tmp_path / "csv"), cwd=tmp_path)
    assert after.returncode == 0, after.stderr
    with (tmp_path / "csv" / "variants.csv").open() as handle:
        rows = {r["variant"]: r for r in csv.DictReader(handle)}
    assert {v: (r["graded"], r["passed"]) for v, r in rows.items()} == {
        "full": ("2", "1"),
        "no-validator": ("2", "0"),
        "react": ("2", "1"),
    }


def test_in_place_upgrade_is_atomic_private_and_idempotent(tmp_path: Path) -> None:
    folder = tmp_path / "runs"
    shutil.copytree(V1 / "eval", folder)
    cassette = write_cassette(folder / "cassette.jsonl", "not a trace")
    done = agentlab("traces", "upgrade", str(folder), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "6 upgraded, 0 already current, 1 not traces (left alone), 0 failed" in done.stdout
    for path in folder.glob("*-t*.jsonl"):
        assert read_trace(path)[0].schema_version == SCHEMA_VERSION  # type: ignore[union-attr]
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(cassette.read_text()) == {"reply": "not a trace"}
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == []
    again = agentlab("traces", "upgrade", str(folder), cwd=tmp_path)
    assert "0 upgraded, 6 already current" in again.stdout


def test_a_trace_that_cannot_be_converted_is_left_as_it_was(tmp_path: Path) -> None:
    source = (V1 / "eval" / "full-t2.jsonl").read_text()
    broken = tmp_path / "broken.jsonl"
    broken.write_text(source.replace("replans: 3 of 3 used", "something ran out"))
    with pytest.raises(TraceError, match="budget cannot be read"):
        upgrade_file(broken)
    done = agentlab("traces", "upgrade", str(broken), cwd=tmp_path)
    assert done.returncode == 1 and "cannot upgrade" in done.stderr
    # The suite's own check parses every trace it leaves: this one is kept only as text.
    assert broken.read_text().startswith('{"type": "header"')
    broken.unlink()


def test_a_torn_last_line_is_dropped(tmp_path: Path) -> None:
    source = (V1 / "eval" / "react-t2.jsonl").read_text().splitlines()
    torn = tmp_path / "torn.jsonl"
    torn.write_text("\n".join(source[:-1]) + "\n" + source[-1][:40])
    assert upgrade_file(torn).events == len(source) - 1
    assert not isinstance(read_trace(torn)[-1], Footer)
