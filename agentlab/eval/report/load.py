"""Reading traces with DuckDB: only the columns and event types the report needs.

Every trace file under the given paths is scanned in one pass (torn last lines
of killed runs are skipped), and only headers, footers, failures and tool calls
are parsed. One run per (task, variant) is
kept: the latest one that finished; runs without a footer are incomplete, and
footers of interrupted runs do not count as finished.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import duckdb

from agentlab.errors import ConfigError

EVENT_TYPES = ("header", "footer", "failure", "tool_call")
COLUMNS = {
    "type": "VARCHAR",
    "run_id": "VARCHAR",
    "time": "VARCHAR",
    "task_id": "VARCHAR",
    "variant": "VARCHAR",
    "model": "VARCHAR",
    "tools": "VARCHAR[]",
    "status": "VARCHAR",
    "status_detail": "VARCHAR",
    "counters": "STRUCT(llm_calls BIGINT, tokens_in BIGINT, tokens_out BIGINT, "
    "tool_calls BIGINT, replans BIGINT)",
    "seconds": "DOUBLE",
    "verdict": 'STRUCT(outcome VARCHAR, "check" VARCHAR, ref_steps BIGINT, suite VARCHAR)',
    "category": "VARCHAR",
    "node": "VARCHAR",
    "tool": "VARCHAR",
}

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


def trace_sources(paths: list[Path]) -> tuple[list[str], int]:
    """Glob patterns for DuckDB (directories are searched recursively for `*.jsonl`),
    and how many files they match."""
    sources: list[str] = []
    files = 0
    for path in paths:
        if path.is_dir():
            found = sum(1 for _ in path.rglob("*.jsonl"))
            if found:
                sources.append(str(path / "**" / "*.jsonl"))
                files += found
        elif path.is_file():
            sources.append(str(path))
            files += 1
        else:
            raise ConfigError(f"{path} is neither a trace file nor a directory of traces")
    if not sources:
        raise ConfigError(f"no trace files (*.jsonl) under {', '.join(map(str, paths))}")
    return sources, files


def connect(paths: list[Path]) -> tuple[duckdb.DuckDBPyConnection, LoadStats]:
    """A DuckDB connection holding `events` (the needed columns) and `runs` (one per pair)."""
    sources, files = trace_sources(paths)
    con = duckdb.connect(config={"autoinstall_known_extensions": False})
    con.execute("SET enable_progress_bar = false")
    # read_ndjson_objects splits lines without parsing them into columns (read_json pays
    # a fixed cost per file, which dominates with one small file per run); only the
    # events the report needs are then parsed, into the typed columns above.
    structure = json.dumps(COLUMNS).replace("'", "''")
    types = ", ".join(f"'{t}'" for t in EVENT_TYPES)
    con.execute(
        f"""CREATE TEMP TABLE events AS
        SELECT event.* FROM (
            SELECT from_json(json, '{structure}') AS event
            FROM read_ndjson_objects(?, ignore_errors = true)
            WHERE json_extract_string(json, '$.type') IN ({types})
        )""",
        [sources],
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
        files=files,
        events=int(events),
        runs=int(kept),
        incomplete=int(headers) - int(finished),
        superseded=int(finished) - int(kept),
    )
    return con, stats
