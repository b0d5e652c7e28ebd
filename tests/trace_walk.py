"""Every trace the test suite writes must parse against the typed events (`agentlab.events`).

`conftest.py` walks the session's temporary folders (every test's `tmp_path`,
every `tmp_path_factory` folder, where `AGENTLAB_HOME` points during a test)
once all tests have run, and fails the session naming each `*.jsonl` trace that
`agentlab.trace.read_trace` refuses. A file is a trace when its first line is a
JSON object with a `type` and a `run_id` (cassettes, suites and memory exports
are not traces and are left alone).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from agentlab.errors import TraceError
from agentlab.trace import read_trace


@dataclass
class TraceWalk:
    """What a walk found: traces that parsed, and the ones that did not, with why."""

    parsed: list[Path] = field(default_factory=list)
    refused: list[tuple[Path, str]] = field(default_factory=list)


def is_trace(path: Path) -> bool:
    """Whether `path` holds a trace: its first line is an event (a `type` and a `run_id`)."""
    try:
        with path.open("rb") as handle:
            first = handle.readline()
        head = json.loads(first)
    except (OSError, ValueError):
        return False
    return isinstance(head, dict) and isinstance(head.get("type"), str) and "run_id" in head


def walk_traces(root: Path) -> TraceWalk:
    """Parse every trace under `root` with `read_trace` (links are not followed)."""
    walk = TraceWalk()
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder, name)
            if not name.endswith(".jsonl") or path.is_symlink() or not is_trace(path):
                continue
            try:
                events = read_trace(path)
            except (TraceError, OSError) as exc:
                walk.refused.append((path, str(exc)))
                continue
            if not events:
                walk.refused.append((path, "no event"))
                continue
            walk.parsed.append(path)
    return walk
