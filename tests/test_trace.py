"""Traces: redaction, flushing, reading a killed run's file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentlab.trace import REDACTED, JsonlTraceSink, Tracer, read_trace, redact


def test_redact_keys_values_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-1234567890")
    event = {
        "api_key": "anything",
        "headers": {"Authorization": "Bearer abc.def.ghijklmnop"},
        "messages": [{"content": "my key is sk-proj-ABCDEFGHIJKLMNOP and tok-1234567890"}],
        "count": 3,
    }
    clean = redact(event)
    text = json.dumps(clean)
    assert "anything" not in text and "ABCDEFGHIJ" not in text and "tok-1234567890" not in text
    assert clean["api_key"] == REDACTED
    assert clean["headers"]["Authorization"] == REDACTED
    assert clean["count"] == 3


def test_each_line_is_flushed_as_written(tmp_path: Path) -> None:
    sink = JsonlTraceSink(tmp_path)
    tracer = Tracer(sink)
    tracer.emit("r1", "header", task="t")
    # Readable before the writer is closed: what a killed process leaves behind.
    assert read_trace(tmp_path / "r1.jsonl")[0]["task"] == "t"
    tracer.emit("r1", "node", node="planner")
    with (tmp_path / "r1.jsonl").open("a") as handle:
        handle.write('{"type": "tool_call", "trunc')  # torn last line of a killed run
    events = read_trace(tmp_path / "r1.jsonl")
    assert [e["type"] for e in events] == ["header", "node"]
