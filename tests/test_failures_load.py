"""Reading traces for the report: event selection, torn lines, incomplete and superseded runs."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from agentlab.errors import ConfigError
from agentlab.eval.report import build_report
from agentlab.eval.report.load import select_lines


def trace(path: Path, *events: dict[str, Any], torn: str = "") -> None:
    path.write_text("".join(json.dumps(e) + "\n" for e in events) + torn, encoding="utf-8")


def run(
    run_id: str, task: str, variant: str, outcome: str | None, *, time: str = "t1"
) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [
        {
            "type": "header",
            "run_id": run_id,
            "time": "t0",
            "task_id": task,
            "variant": variant,
            "tools": ["calculator"],
        },
        {"type": "node", "run_id": run_id, "node": "planner"},
        {"type": "tool_call", "run_id": run_id, "tool": "calculator", "status": "ok"},
        {"type": "model_call", "run_id": run_id, "messages": [{"content": '{"type": "footer"}'}]},
    ]
    if outcome == "fail":
        events.append(
            {"type": "failure", "run_id": run_id, "category": "goal.wrong_answer", "tool": None}
        )
    if outcome is not None:
        events.append(
            {
                "type": "footer",
                "run_id": run_id,
                "time": time,
                "status": "answered",
                "counters": {"tool_calls": 1, "llm_calls": 2, "tokens_in": 10, "tokens_out": 5},
                "seconds": 1.5,
                "verdict": {"outcome": outcome, "check": "numeric", "ref_steps": 2},
            }
        )
    return events


def test_only_needed_events_are_selected_whatever_the_key_order(tmp_path: Path) -> None:
    reordered = json.dumps({"run_id": "r", "type": "failure", "category": "x"}).encode()
    lines = [
        b'{"type": "header", "run_id": "r"}',
        b'{"type": "node", "run_id": "r"}',
        reordered,
        b'{"run_id": "r", "type": "node"}',
        b"",
        b'{"type": "footer", "run_id": "r", "stat',
    ]
    source = tmp_path / "r.jsonl"
    source.write_bytes(b"\n".join(lines))
    out = io.BytesIO()
    assert select_lines([str(source)], out) == 3
    # The torn footer is copied; DuckDB skips it (ignore_errors).
    assert out.getvalue().splitlines() == [lines[0], lines[2], lines[5]]


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
    events = run("a", "t1", "full", "pass")
    events[-1].pop("verdict")
    trace(tmp_path / "a.jsonl", *events)
    [row] = build_report([tmp_path]).variants
    assert (row.runs, row.graded, row.rate, row.answered) == (1, 0, None, 1)


def test_nothing_to_read_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no trace files"):
        build_report([tmp_path])
