"""The session's trace walk (`trace_walk`, run by conftest.py): what counts as a trace, and
that a trace which does not parse is refused with its reason."""

from __future__ import annotations

import json
from pathlib import Path

from support import write_cassette
from trace_walk import is_trace, walk_traces

from agentlab.events import Header, event_json


def header(run_id: str) -> str:
    event = Header(run_id=run_id, task="t", variant="full", config={}, model="m", tools=[])
    return json.dumps(event_json(event)) + "\n"


def test_the_walk_parses_traces_and_leaves_other_files_alone(tmp_path: Path) -> None:
    good = tmp_path / "runs" / "good.jsonl"
    good.parent.mkdir()
    good.write_text(header("good"))
    cassette = write_cassette(tmp_path / "cassette.jsonl", "{}")
    suite = tmp_path / "suite.jsonl"
    suite.write_text(json.dumps({"id": "t1", "prompt": "p", "answer": "1"}) + "\n")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(header("bad") + json.dumps({"type": "node", "run_id": "bad"}) + "\n")
    assert [is_trace(p) for p in (good, cassette, suite, bad)] == [True, False, False, True]

    walk = walk_traces(tmp_path)
    assert walk.parsed == [good]
    [(path, why)] = walk.refused
    assert path == bad and "bad.jsonl:2" in why and "node" in why
    bad.unlink()  # the session's own walk would refuse it too
