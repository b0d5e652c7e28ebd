"""Reading traces with DuckDB: only the event types and columns the report needs.

The report needs headers, footers, failures and tool calls, a third of a
trace's lines and a small part of its bytes (model calls carry the prompts).
Every trace writer puts `"type"` first, so those lines are picked by prefix,
without parsing, into one scratch JSON-lines file that DuckDB reads in one
`read_json` call with typed columns. (DuckDB alone was slower here: `read_json`
pays a fixed cost per file, and with one small file per run that dominated;
splitting lines in SQL cost more than in Python.) A line that does not start
with `{"type": ` is parsed into its event to find its type; a torn last line (a
killed run) is skipped. A trace in the format before typed events is refused
with the command that converts it (`agentlab traces upgrade`).

One run per (task, variant) is kept: the latest one that finished; runs
without a footer are incomplete, and footers of interrupted runs do not count
as finished.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from types import UnionType
from typing import IO, Any, Literal, Union, get_args, get_origin

import duckdb
from pydantic import BaseModel

from agentlab.errors import ConfigError, TraceError
from agentlab.events import Footer, Header, ToolCall, parse_event
from agentlab.failures import FailureEvent
from agentlab.trace import check_format

WANTED: tuple[type[BaseModel], ...] = (Header, Footer, FailureEvent, ToolCall)
"""The events the report reads."""
EVENT_TYPES = tuple(str(model.model_fields["type"].default) for model in WANTED)
READ: dict[type[BaseModel], tuple[str, ...]] = {
    Header: ("type", "run_id", "time", "task_id", "variant", "model", "tools"),
    Footer: ("status", "status_detail", "counters", "seconds", "verdict"),
    FailureEvent: ("category", "node", "tool"),
    ToolCall: ("item",),
}
"""The columns the report reads, by the event that defines them (`agentlab.events`)."""


def duckdb_type(annotation: Any) -> str:
    """The DuckDB column type of a pydantic field's annotation."""
    origin = get_origin(annotation)
    if origin in (Union, UnionType):
        kinds = [a for a in get_args(annotation) if a is not type(None)]
        return duckdb_type(kinds[0]) if len(kinds) == 1 else "VARCHAR"
    if origin is list:
        return f"{duckdb_type(get_args(annotation)[0])}[]"
    if origin is Literal or (isinstance(annotation, type) and issubclass(annotation, Enum)):
        return "VARCHAR"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        fields = ", ".join(
            f'"{name}" {duckdb_type(field.annotation)}'
            for name, field in annotation.model_fields.items()
        )
        return f"STRUCT({fields})"
    return _SCALARS.get(annotation, "VARCHAR")


_SCALARS: dict[Any, str] = {str: "VARCHAR", int: "BIGINT", float: "DOUBLE", bool: "BOOLEAN"}

COLUMNS = {
    name: duckdb_type(model.model_fields[name].annotation)
    for model, names in READ.items()
    for name in names
}
"""Column name -> DuckDB type, derived from the event definitions."""

_RUNS = """
CREATE TEMP TABLE runs AS
WITH headers AS (
    SELECT run_id, task_id, variant, model, tools FROM events WHERE type = 'header'
    QUALIFY row_number() OVER (PARTITION BY run_id ORDER BY time) = 1
), footers AS (
    SELECT run_id, time AS ended, status, status_detail, counters, seconds, verdict
    FROM events
    WHERE type = 'footer' AND coalesce(status_detail, '') <> 'interrupted'
    QUALIFY row_number() OVER (PARTITION BY run_id ORDER BY time DESC) = 1
)
SELECT h.run_id, coalesce(h.task_id, h.run_id) AS task_id, coalesce(h.variant, '?') AS variant,
       h.model, array_to_string(list_sort(coalesce(h.tools, [])), ',') AS inventory,
       f.ended, f.status, f.counters, f.seconds, f.verdict,
       row_number() OVER (
           PARTITION BY coalesce(h.task_id, h.run_id), h.variant ORDER BY f.ended DESC
       ) AS recency
FROM headers h JOIN footers f USING (run_id)
"""


@dataclass(frozen=True, slots=True)
class LoadStats:
    files: int
    events: int
    """Events the report reads (headers, footers, failures, tool calls)."""
    runs: int
    """Runs kept: the latest finished run per (task, variant)."""
    incomplete: int
    """Runs with a header but no footer (killed or interrupted)."""
    superseded: int
    """Finished runs replaced by a later run of the same task and variant."""


def trace_files(paths: list[Path]) -> list[str]:
    """Trace files: the files given, and every `*.jsonl` under the directories given."""
    files: list[str] = []
    for path in paths:
        if path.is_dir():
            for folder, _, names in os.walk(path):
                files.extend(os.path.join(folder, n) for n in names if n.endswith(".jsonl"))
        elif path.is_file():
            files.append(str(path))
        else:
            raise ConfigError(f"{path} is neither a trace file nor a directory of traces")
    if not files:
        raise ConfigError(f"no trace files (*.jsonl) under {', '.join(map(str, paths))}")
    return files


_PREFIXES = tuple(f'{{"type": "{t}"'.encode() for t in EVENT_TYPES)
_TYPED = b'{"type": "'


def _untyped_but_wanted(line: bytes) -> bool:
    """A line another writer produced (`type` not first): parse it to see."""
    try:
        return isinstance(parse_event(line), WANTED)
    except TraceError:
        return False


def select_lines(files: list[str], target: IO[bytes]) -> int:
    """Copy the lines of the needed event types into `target`; returns how many.

    Raises `TraceError` (a `ConfigError`) for a trace in an older format, saying how to
    convert it."""
    count = 0
    for path in files:
        with open(path, "rb") as handle:
            data = handle.read()
        check_format(data.split(b"\n", 1)[0], path)
        lines = [
            line
            for line in data.split(b"\n")
            if line.startswith(_PREFIXES)
            or (line and not line.startswith(_TYPED) and _untyped_but_wanted(line))
        ]
        if lines:
            target.write(b"\n".join(lines) + b"\n")
            count += len(lines)
    return count


def load_events(paths: list[Path]) -> tuple[duckdb.DuckDBPyConnection, LoadStats]:
    """A DuckDB connection holding `events` (the needed columns) and `runs` (one per pair)."""
    files = trace_files(paths)
    con = duckdb.connect(config={"autoinstall_known_extensions": False})
    con.execute("SET enable_progress_bar = false")
    columns = "{" + ", ".join(f"'{k}': '{v}'" for k, v in COLUMNS.items()) + "}"
    with tempfile.TemporaryDirectory(prefix="agentlab-report-") as scratch:
        selected = Path(scratch) / "events.jsonl"
        with selected.open("wb") as target:
            select_lines(files, target)
        con.execute(
            f"""CREATE TEMP TABLE events AS
            SELECT * FROM read_json(?, format = 'newline_delimited', columns = {columns},
                                    ignore_errors = true, maximum_object_size = 268435456)""",
            [str(selected)],
        )
    con.execute(_RUNS)
    events, headers = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE type = 'header') FROM events"
    ).fetchone() or (0, 0)
    finished, kept = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE recency = 1) FROM runs"
    ).fetchone() or (0, 0)
    con.execute("DELETE FROM runs WHERE recency > 1")
    stats = LoadStats(
        files=len(files),
        events=int(events),
        runs=int(kept),
        incomplete=int(headers) - int(finished),
        superseded=int(finished) - int(kept),
    )
    return con, stats
