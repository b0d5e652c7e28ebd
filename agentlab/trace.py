"""Run traces: one JSON-lines file per run, header / events / footer, flushed as written.

Every event is made JSON-ready (pydantic models dumped, paths as text) and then
redacted as a whole (`agentlab.redaction`) before it reaches a sink, so no
secret lands in a trace, whoever emitted the event and wherever in it the
secret sits. Trace files are owner-only (0600, in 0700 folders agentlab makes).
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import IO, Any, Protocol

from pydantic import BaseModel

from agentlab.failures import FailureEvent, utc_now
from agentlab.paths import contained
from agentlab.private_files import open_private, private_dir
from agentlab.redaction import REDACTED, Redactor, env_secrets, redact

__all__ = [
    "REDACTED",
    "JsonlTraceSink",
    "MemoryTraceSink",
    "TraceSink",
    "Tracer",
    "default_home",
    "default_runs_dir",
    "json_ready",
    "read_trace",
    "redact",
    "serialise",
]


def default_home() -> Path:
    """`AGENTLAB_HOME`, else `./.agentlab`."""
    return Path(os.environ.get("AGENTLAB_HOME") or ".agentlab")


def default_runs_dir() -> Path:
    return default_home() / "runs"


def _json_default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, Path):
        return str(value)
    return repr(value)


def serialise(value: Any) -> tuple[Any, str]:
    """`value` as plain JSON data (dicts, lists, strings, numbers: pydantic models
    dumped, paths as text, bytes as their size, anything else as its repr), with
    its JSON text."""
    # A C-speed round trip; walking the value in Python costs more.
    text = json.dumps(value, default=_json_default, ensure_ascii=False)
    return json.loads(text), text


def json_ready(value: Any) -> Any:
    """`value` as plain JSON data (see `serialise`)."""
    return serialise(value)[0]


class TraceSink(Protocol):
    """Where trace events go. Implementations must be thread-safe."""

    def write(self, run_id: str, event: dict[str, Any]) -> None: ...

    def close(self, run_id: str) -> None: ...

    def location(self, run_id: str) -> str | None: ...


class JsonlTraceSink:
    """Appends each run's events to `<runs_dir>/<run_id>.jsonl`, flushing every line."""

    def __init__(self, runs_dir: Path | str | None = None) -> None:
        self.runs_dir = Path(runs_dir) if runs_dir is not None else default_runs_dir()
        self._files: dict[str, IO[str]] = {}
        self._lock = threading.Lock()

    def path(self, run_id: str) -> Path:
        """`<runs_dir>/<run_id>.jsonl`; raises `UnsafePathError` when the run id would
        lead elsewhere (run ids can come from a caller's config or a checkpoint)."""
        return contained(self.runs_dir, f"{run_id}.jsonl")

    def location(self, run_id: str) -> str | None:
        return str(self.path(run_id))

    def artifacts_dir(self, run_id: str) -> Path:
        return contained(self.runs_dir, run_id)

    def write(self, run_id: str, event: dict[str, Any]) -> None:
        line = json.dumps(event, default=_json_default, ensure_ascii=False)
        with self._lock:
            handle = self._files.get(run_id)
            if handle is None:
                private_dir(self.runs_dir)
                handle = self._files[run_id] = open_private(self.path(run_id), "a")
            handle.write(line + "\n")
            handle.flush()

    def close(self, run_id: str) -> None:
        with self._lock:
            handle = self._files.pop(run_id, None)
        if handle is not None:
            handle.close()


class MemoryTraceSink:
    """Keeps events in memory (tests, embedding)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def write(self, run_id: str, event: dict[str, Any]) -> None:
        # A JSON round trip so tests see exactly what a file would hold.
        with self._lock:
            self.events.append(json.loads(json.dumps(event, default=_json_default)))

    def close(self, run_id: str) -> None:
        return None

    def location(self, run_id: str) -> str | None:
        return None

    def of_run(self, run_id: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("run_id") == run_id]


class Tracer:
    """Writes typed events for runs to a sink, redacted and timestamped."""

    def __init__(self, sink: TraceSink | None = None) -> None:
        self.sink: TraceSink = sink if sink is not None else JsonlTraceSink()
        # Built once: the environment's secrets and the compiled patterns.
        self._redact = Redactor(env_secrets())

    def emit(self, run_id: str, type_: str, **fields: Any) -> None:
        event = {"type": type_, "run_id": run_id, "time": utc_now(), **fields}
        # Serialised first, then redacted whole: a plan or reflection object holds the
        # model's text too, and a secret in it must not slip past as a non-string.
        self.sink.write(run_id, self._redact.redact_serialised(*serialise(event)))

    def failure(self, event: FailureEvent) -> None:
        fields = event.model_dump(mode="json")
        run_id = fields.pop("run_id") or "unknown"
        self.emit(run_id, "failure", **fields)

    def artifacts_dir(self, run_id: str) -> Path | None:
        artifacts = getattr(self.sink, "artifacts_dir", None)
        return artifacts(run_id) if callable(artifacts) else None

    def location(self, run_id: str) -> str | None:
        return self.sink.location(run_id)

    def close(self, run_id: str) -> None:
        self.sink.close(run_id)


def read_trace(path: Path | str) -> list[dict[str, Any]]:
    """All events of a trace file; a torn last line (a killed run) is skipped."""
    events: list[dict[str, Any]] = []
    with Path(path).open(encoding="utf-8") as handle:
        for line in handle:
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return events
