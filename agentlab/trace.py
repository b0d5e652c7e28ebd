"""Run traces: one JSON-lines file per run, header / events / footer, flushed as written.

Every event passes through `redact` before it reaches a sink, so API keys and
Authorization headers never land in a trace, whoever emitted the event.
"""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path
from typing import IO, Any, Protocol

from pydantic import BaseModel

from agentlab.failures import FailureEvent, utc_now
from agentlab.paths import contained

REDACTED = "[redacted]"
_SECRET_KEY = re.compile(r"(api[_-]?key|authorization|secret|password|access[_-]?token)", re.I)
_SECRET_VALUE = re.compile(
    r"(sk-[A-Za-z0-9_\-]{8,}|Bearer\s+[A-Za-z0-9._\-]{8,}|(?:ghp|gho|xox[bap])_[A-Za-z0-9]{8,})"
)
_SECRET_ENV = re.compile(r"(API_KEY|TOKEN|SECRET|PASSWORD)$")


def default_home() -> Path:
    """`AGENTLAB_HOME`, else `./.agentlab`."""
    return Path(os.environ.get("AGENTLAB_HOME") or ".agentlab")


def default_runs_dir() -> Path:
    return default_home() / "runs"


def _secret_env_values() -> list[str]:
    return [v for k, v in os.environ.items() if _SECRET_ENV.search(k) and len(v) >= 6]


def redact(value: Any, _secrets: list[str] | None = None) -> Any:
    """A copy of `value` with secrets replaced: secret-named keys, key-shaped strings, env secrets."""
    secrets = _secret_env_values() if _secrets is None else _secrets
    if isinstance(value, dict):
        return {
            k: REDACTED if _SECRET_KEY.search(str(k)) else redact(v, secrets)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v, secrets) for v in value]
    if isinstance(value, str):
        text = _SECRET_VALUE.sub(REDACTED, value)
        for secret in secrets:
            text = text.replace(secret, REDACTED)
        return text
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, Path):
        return str(value)
    return repr(value)


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
                self.runs_dir.mkdir(parents=True, exist_ok=True)
                handle = self._files[run_id] = self.path(run_id).open("a", encoding="utf-8")
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
        # Read once: scanning the environment on every event costs more than the write.
        self._secrets = _secret_env_values()

    def emit(self, run_id: str, type_: str, **fields: Any) -> None:
        event = {"type": type_, "run_id": run_id, "time": utc_now(), **fields}
        self.sink.write(run_id, redact(event, self._secrets))

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
