"""Traces: redaction, flushing, reading a killed run's file, owner-only files."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest
from secrets_corpus import ENV_SECRETS, SECRETS, SENSITIVE
from support import agentlab, finish, of_type, only_trace, plan, step, write_cassette

from agentlab.events import Header, NodeStep, ToolCall
from agentlab.llm import CassetteRecorder
from agentlab.memory.sqlite_store import connect
from agentlab.trace import REDACTED, JsonlTraceSink, Tracer, read_trace, redact

HEADER = Header(run_id="r1", task="t", variant="full", config={}, model="replay:x", tools=[])


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
    tracer.write(HEADER)
    # Readable before the writer is closed: what a killed process leaves behind.
    assert read_trace(tmp_path / "r1.jsonl")[0] == HEADER
    tracer.write(NodeStep(run_id="r1", node="planner", duration_s=0.1))
    with (tmp_path / "r1.jsonl").open("a") as handle:
        handle.write('{"type": "tool_call", "trunc')  # torn last line of a killed run
    events = read_trace(tmp_path / "r1.jsonl")
    assert [e.type for e in events] == ["header", "node"]


def test_text_with_unicode_line_separators_stays_on_its_line(tmp_path: Path) -> None:
    # JSON leaves U+2028/U+2029 (and \x85) unescaped; only "\n" ends a trace line.
    odd = "one\u2028two\u2029three\x85four\x1cfive"
    tracer = Tracer(JsonlTraceSink(tmp_path))
    tracer.write(HEADER)
    tracer.write(NodeStep(run_id="r1", node="planner", duration_s=0.1, answer=odd))
    tracer.write(NodeStep(run_id="r1", node="finalizer", duration_s=0.1))
    events = read_trace(tmp_path / "r1.jsonl")
    assert [e.type for e in events] == ["header", "node", "node"]
    assert isinstance(events[1], NodeStep) and events[1].answer == odd


def test_a_non_ascii_secret_of_the_environment_is_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERVICE_PASSWORD", "pässwörd-Ωmega-42")
    tracer = Tracer(JsonlTraceSink(tmp_path))
    tracer.write(HEADER.model_copy(update={"task": "log in with pässwörd-Ωmega-42 please"}))
    text = (tmp_path / "r1.jsonl").read_text(encoding="utf-8")
    assert "pässwörd" not in text and REDACTED in text


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_no_secret_reaches_a_real_runs_trace_or_cassette(tmp_path: Path) -> None:
    # One replayed `agentlab run`: every format in the task, in a plan argument (under
    # plain and secret names), in the tool's output and in the answer; secret-named
    # environment variables whose values appear in the task unannounced.
    everything = "\n".join(SECRETS.values())
    task = f"Store these for later: {everything}\nalso {' '.join(ENV_SECRETS.values())}"
    args = {
        "text": everything,
        "token": "opaque-7731-zz",
        "cookie": "sid=4f3a9c2d1e",
        "private_key": "k9-deadbeef-77",
    }
    cassette = write_cassette(
        tmp_path / "script.jsonl",
        plan(step("s1", "leak", **args)),
        finish(f"Stored. For the record: {everything}"),
    )
    record = tmp_path / "recorded.jsonl"
    home = tmp_path / "agentlab-home"
    env = {**os.environ, **ENV_SECRETS, "PYTHONPATH": str(Path(__file__).parent)}
    done = agentlab(
        "run", task, "--model", f"replay:{cassette}", "--record", str(record),
        "--tool", "leaky_tools:leak", "--thread", "t1", cwd=tmp_path, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    events = only_trace(home / "runs")
    assert [c.status for c in of_type(events, ToolCall)] == ["ok"]
    assert events[-1].answer.startswith("Stored. For the record:")
    written = {"trace": (home / "runs").glob("*.jsonl"), "cassette": [record]}
    for what, paths in written.items():
        for path in paths:
            text = path.read_text(encoding="utf-8")
            for kind, sensitive in [*SENSITIVE.items(), *ENV_SECRETS.items()]:
                assert sensitive not in text, f"{kind} leaked into the {what} {path.name}"
            for value in args.values():
                assert value not in text, f"a secret-named argument leaked into the {what}"
            assert REDACTED in text
    # Owner-only: what agentlab created, and the files it wrote there.
    assert _mode(home) == _mode(home / "runs") == 0o700
    databases = sorted(home.glob("*.sqlite*"))
    assert {p.name for p in databases} >= {"threads.sqlite", "memory.sqlite"}
    for path in [*(home / "runs").glob("*.jsonl"), record, *databases]:
        assert _mode(path) == 0o600, f"{path.name} is {oct(_mode(path))}"


def test_trace_files_are_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        Tracer(JsonlTraceSink(tmp_path / "new" / "runs")).write(HEADER)
        CassetteRecorder(tmp_path / "rec" / "c.jsonl").close()
    finally:
        os.umask(old)
    assert _mode(tmp_path / "new") == _mode(tmp_path / "new" / "runs") == 0o700
    assert _mode(tmp_path / "new" / "runs" / "r1.jsonl") == 0o600
    assert _mode(tmp_path / "rec") == 0o700 and _mode(tmp_path / "rec" / "c.jsonl") == 0o600


def test_an_existing_database_is_made_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "memory.sqlite"
    sqlite3.connect(path).close()
    path.chmod(0o644)  # as an older agentlab left it
    conn = connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    assert _mode(path) == 0o600
    assert all(_mode(p) == 0o600 for p in tmp_path.glob("memory.sqlite-*"))
