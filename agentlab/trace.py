"""Run traces: one JSON-lines file per run, header / events / footer, flushed as written.

Every event is made JSON-ready (pydantic models dumped, paths as text) and then
redacted as a whole (`agentlab.redaction`) before it reaches a sink, so no
secret lands in a trace, whoever emitted the event and wherever in it the
secret sits. Trace files are owner-only (0600, in 0700 folders agentlab makes).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, Protocol

from pydantic import BaseModel

from agentlab import settings
from agentlab.errors import TraceError
from agentlab.events import (
    SCHEMA_VERSION,
    UPGRADE_HINT,
    Event,
    Footer,
    Header,
    TraceEvent,
    event_json,
    header_version,
    parse_event,
)
from agentlab.failures import FailureEvent
from agentlab.jsonl import numbered_lines
from agentlab.paths import contained
from agentlab.private_files import open_private, private_dir
from agentlab.redaction import REDACTED, Redactor, env_secrets, redact

__all__ = [
    "REDACTED",
    "EventObserver",
    "JsonlTraceSink",
    "MemoryTraceSink",
    "TraceError",
    "TraceSink",
    "Tracer",
    "check_format",
    "json_ready",
    "read_ends",
    "read_trace",
    "redact",
    "serialise",
]


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
        self.runs_dir = Path(runs_dir) if runs_dir is not None else settings.runs_dir()
        self._files: dict[str, IO[str]] = {}
        self._artifacts: dict[str, Path] = {}
        self._lock = threading.Lock()

    def path(self, run_id: str) -> Path:
        """`<runs_dir>/<run_id>.jsonl`; raises `UnsafePathError` when the run id would
        lead elsewhere (run ids can come from a caller's config or a checkpoint)."""
        return contained(self.runs_dir, f"{run_id}.jsonl")

    def location(self, run_id: str) -> str | None:
        return str(self.path(run_id))

    def artifacts_dir(self, run_id: str) -> Path:
        """`<runs_dir>/<run_id>/`, checked once per run (resolving it costs syscalls on every
        tool call otherwise); raises `UnsafePathError` like `path`."""
        known = self._artifacts.get(run_id)
        if known is None:
            known = self._artifacts[run_id] = contained(self.runs_dir, run_id)
        return known

    def write(self, run_id: str, event: dict[str, Any]) -> None:
        self.write_line(run_id, json.dumps(event, default=_json_default, ensure_ascii=False))

    def write_line(self, run_id: str, line: str) -> None:
        """Append one event's JSON text (one line, no newline in it) to the run's trace."""
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
            self._artifacts.pop(run_id, None)
        if handle is not None:
            handle.close()


class MemoryTraceSink:
    """Keeps events in memory, typed (tests, embedding)."""

    def __init__(self) -> None:
        self.events: list[TraceEvent] = []
        self._lock = threading.Lock()

    def write(self, run_id: str, event: dict[str, Any]) -> None:
        # Parsed from the JSON a file would hold, so tests see exactly what a file gives.
        typed = parse_event(json.loads(json.dumps(event, default=_json_default)))
        with self._lock:
            self.events.append(typed)

    def close(self, run_id: str) -> None:
        return None

    def location(self, run_id: str) -> str | None:
        return None

    def of_run(self, run_id: str) -> list[TraceEvent]:
        """The run's events."""
        return [e for e in self.events if e.run_id == run_id]


class EventObserver(Protocol):
    """Sees every event a `Tracer` writes, typed and already redacted (OpenTelemetry spans,
    `agentlab.otel.SpanRecorder`). Implementations must be thread-safe."""

    def observe(self, event: Event | FailureEvent) -> None: ...


_log = logging.getLogger(__name__)


def observers_from_environment() -> list[EventObserver]:
    """OpenTelemetry spans when the environment asks for an exporter
    (`settings.span_exporters`), else none. Without the `[otel]` extra that is said once
    and the run goes on with its JSONL trace alone."""
    if not settings.span_exporters():
        return []
    try:
        from agentlab.otel import environment_recorder
    except ImportError:
        _warn_once(OTEL_HINT)
        return []
    return [environment_recorder()]


OTEL_HINT = (
    "OpenTelemetry is configured (OTEL_* variables) but not installed for agentlab: "
    "pip install 'agentlab[otel]'; runs keep their JSONL traces only"
)
_warned: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        _log.warning(message)


class Tracer:
    """Writes a run's typed events to a sink, serialised and redacted, and shows each to the
    observers (OpenTelemetry spans when the environment configures them)."""

    def __init__(
        self, sink: TraceSink | None = None, *, observers: Sequence[EventObserver] | None = None
    ) -> None:
        self.sink: TraceSink = sink if sink is not None else JsonlTraceSink()
        self.observers: list[EventObserver] = (
            list(observers) if observers is not None else observers_from_environment()
        )
        # Built once: the environment's secrets and the compiled patterns.
        self._redact = Redactor(env_secrets())
        self._headed: set[str] = set()

    def write(self, event: Event | FailureEvent) -> None:
        """Write one event. It is serialised first, then redacted whole: a plan or a
        reply holds the model's text too, and a secret in it must not slip past."""
        run_id = event.run_id or "unknown"
        if isinstance(event, Header):
            self._headed.add(run_id)
        data = event_json(event)
        # The redactor reads the text as written (not ASCII-escaped: a secret with a
        # non-ASCII letter must look the same as in the environment).
        text = json.dumps(data, default=_json_default, ensure_ascii=False)
        redacted: dict[str, Any] = self._redact.redact_serialised(data, text)
        if redacted is data and isinstance(self.sink, JsonlTraceSink):
            self.sink.write_line(run_id, text)  # nothing replaced: the text is the line
        else:
            self.sink.write(run_id, redacted)
        if self.observers:
            self._show(event if redacted is data else parse_event(redacted))

    def _show(self, event: Event | FailureEvent) -> None:
        for observer in self.observers:
            try:
                observer.observe(event)
            except Exception as exc:  # telemetry never fails a run; the trace has the event
                _warn_once(f"{type(observer).__name__} failed on an event: {exc!r}")

    def began(self, run_id: str) -> bool:
        """Whether this tracer wrote the run's header (a trace without one is not written)."""
        return run_id in self._headed

    def failure(self, event: FailureEvent) -> None:
        """Write a failure event (it is its own trace line)."""
        self.write(event)

    def artifacts_dir(self, run_id: str) -> Path | None:
        artifacts = getattr(self.sink, "artifacts_dir", None)
        return artifacts(run_id) if callable(artifacts) else None

    def location(self, run_id: str) -> str | None:
        return self.sink.location(run_id)

    def close(self, run_id: str) -> None:
        self.sink.close(run_id)


def read_trace(path: Path | str) -> list[TraceEvent]:
    """Every event of a trace file, typed; a torn last line (a killed run) is skipped.

    Raises `TraceError` for a trace in the format before typed events (with the
    command that converts it) or a line that is not a valid event.
    """
    events: list[TraceEvent] = []
    with Path(path).open(encoding="utf-8", errors="replace") as handle:
        lines = numbered_lines(handle.read())
    last = lines[-1][0] if lines else 0
    for number, line in lines:
        try:
            raw = json.loads(line)
        except json.JSONDecodeError:
            if number == last:
                continue  # torn by a kill while it was written
            raise TraceError(f"{path}:{number}: not JSON") from None
        if number == 1:
            _check_version(raw, path)
        try:
            events.append(parse_event(raw))
        except TraceError as exc:
            raise TraceError(f"{path}:{number}: {exc}") from None
    return events


TAIL_BYTES = 1 << 16
"""How much of a trace's end `read_ends` reads to find the footer."""


def read_ends(path: Path | str) -> tuple[Header | None, Footer | None]:
    """A trace's header and footer, read from its first line and its tail only (None when
    missing: a run killed before its footer). Raises `TraceError` for an older format."""
    with Path(path).open("rb") as handle:
        first = handle.readline()
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - TAIL_BYTES))
        tail = handle.read().splitlines()
    header = _parsed(first, path, first_line=True)
    footer = _parsed(tail[-1], path) if tail else None
    return (
        header if isinstance(header, Header) else None,
        footer if isinstance(footer, Footer) else None,
    )


def _parsed(line: bytes, path: Path | str, *, first_line: bool = False) -> TraceEvent | None:
    try:
        raw = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None  # torn by a kill
    if first_line:
        _check_version(raw, path)
    try:
        return parse_event(raw)
    except TraceError:
        return None


def check_format(first_line: bytes | str, path: Path | str) -> None:
    """Raise `TraceError` (with the command that converts it) when a trace's first line is
    the header of an older format; anything else passes (a torn or foreign line included)."""
    try:
        first = json.loads(first_line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return
    _check_version(first, path)


def _check_version(first: object, path: Path | str) -> None:
    version = header_version(first)
    if version is not None and version < SCHEMA_VERSION:
        raise TraceError(UPGRADE_HINT.format(where=path, path=path))
