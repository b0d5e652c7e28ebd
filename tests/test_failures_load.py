"""Reading traces for the report: event selection, torn lines, incomplete and superseded runs."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Literal

import pytest

from agentlab.errors import ConfigError, TraceError
from agentlab.eval.report import build_report
from agentlab.eval.report.load import select_lines
from agentlab.events import (
    Event,
    Footer,
    Header,
    ModelCall,
    NodeStep,
    ToolCall,
    Verdict,
    event_json,
)
from agentlab.failures import FailureCategory, FailureEvent
from agentlab.state import Counters
from agentlab.stops import Answered


def trace(path: Path, *events: Event | FailureEvent, torn: str = "") -> None:
    lines = "".join(json.dumps(event_json(e)) + "\n" for e in events)
    path.write_text(lines + torn, encoding="utf-8")


def run(
    run_id: str,
    task: str,
    variant: str,
    outcome: Literal["pass", "fail"] | None,
    *,
    time: str = "t1",
) -> list[Event | FailureEvent]:
    events: list[Event | FailureEvent] = [
        Header(
            run_id=run_id,
            time="t0",
            task="What is 17*23?",
            task_id=task,
            variant=variant,
            config={},
            model="replay:c.jsonl",
            tools=["calculator"],
        ),
        NodeStep(run_id=run_id, node="planner", duration_s=0.1),
        ToolCall(
            run_id=run_id,
            step_id="s1",
            tool="calculator",
            args={"expression": "17*23"},
            status="ok",
            output="391",
            started=0.0,
            ended=0.1,
            duration_s=0.1,
        ),
        # A prompt quoting a footer must not be taken for one.
        ModelCall(
            run_id=run_id,
            node="planner",
            model="replay:c.jsonl",
            messages=[{"content": '{"type": "footer"}'}],
            reply="{}",
            tokens_in=10,
            tokens_out=5,
            latency_s=0.1,
        ),
    ]
    if outcome == "fail":
        events.append(
            FailureEvent(
                run_id=run_id,
                category=FailureCategory.GOAL_WRONG_ANSWER,
                detail="expected 391",
                node="eval",
            )
        )
    if outcome is not None:
        verdict = Verdict(outcome=outcome, check="numeric", expected="391", ref_steps=2)
        events.append(
            Footer(
                run_id=run_id,
                time=time,
                status="answered",
                stop=Answered(),
                counters=Counters(tool_calls=1, llm_calls=2, tokens_in=10, tokens_out=5),
                seconds=1.5,
                verdict=verdict,
            )
        )
    return events


def test_only_needed_events_are_selected_whatever_the_key_order(tmp_path: Path) -> None:
    header, node, _, _, failure, _ = run("r", "t1", "full", "fail")
    reordered = {"run_id": "r", **event_json(failure)}  # `type` not first
    lines = [
        json.dumps(event_json(header)).encode(),
        json.dumps(event_json(node)).encode(),
        json.dumps(reordered).encode(),
        json.dumps({"run_id": "r", **event_json(node)}).encode(),
        b"",
        b'{"type": "footer", "run_id": "r", "stat',
    ]
    source = tmp_path / "r.jsonl"
    source.write_bytes(b"\n".join(lines))
    out = io.BytesIO()
    assert select_lines([str(source)], out) == 3
    # The torn footer is copied; DuckDB skips it (ignore_errors).
    assert out.getvalue().splitlines() == [lines[0], lines[2], lines[5]]


def test_a_trace_of_the_format_before_typed_events_is_refused(tmp_path: Path) -> None:
    header = event_json(run("r", "t1", "full", None)[0])
    del header["schema_version"]
    trace_file = tmp_path / "old.jsonl"
    trace_file.write_text(json.dumps(header) + "\n", encoding="utf-8")
    with pytest.raises(TraceError, match="agentlab traces upgrade"):
        build_report([tmp_path])
    trace_file.unlink()


def test_incomplete_superseded_and_torn_runs(tmp_path: Path) -> None:
    trace(tmp_path / "a.jsonl", *run("a", "t1", "full", "fail", time="t1"))
    trace(tmp_path / "b.jsonl", *run("b", "t1", "full", "pass", time="t2"))  # supersedes a
    trace(tmp_path / "c.jsonl", *run("c", "t2", "full", None), torn='{"type": "footer", "run_')
    nested = tmp_path / "more"
    nested.mkdir()
    trace(nested / "d.jsonl", *run("d", "t2", "no-reflection", "fail"))
    (tmp_path / "notes.txt").write_text("not a trace")
    report = build_report([tmp_path])
    stats = report.stats
    assert (stats.files, stats.runs, stats.incomplete, stats.superseded) == (4, 2, 1, 1)
    assert {(r.task_id, r.variant, r.outcome) for r in report.runs} == {
        ("t1", "full", "pass"),
        ("t2", "no-reflection", "fail"),
    }
    # Failures of the superseded run do not count.
    assert report.categories == {("goal.wrong_answer", "no-reflection"): 1}
    [full, other] = report.variants
    assert (full.variant, full.graded, full.passed, full.steps, full.tokens) == (
        "full",
        1,
        1,
        1.0,
        15.0,
    )
    assert other.rate == 0.0


def test_runs_without_verdicts_are_ungraded(tmp_path: Path) -> None:
    *events, footer = run("a", "t1", "full", "pass")
    assert isinstance(footer, Footer)
    trace(tmp_path / "a.jsonl", *events, footer.model_copy(update={"verdict": None}))
    [row] = build_report([tmp_path]).variants
    assert (row.runs, row.graded, row.rate, row.answered) == (1, 0, None, 1)


def test_nothing_to_read_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no trace files"):
        build_report([tmp_path])
