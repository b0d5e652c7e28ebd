"""Helpers that script a model with hand-written cassettes and read traces."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from agentlab.events import TraceEvent
from agentlab.failures import FailureEvent
from agentlab.trace import read_trace


def step(id: str, tool: str, **args: Any) -> dict[str, Any]:
    return {"id": id, "tool": tool, "args": args, "why": ""}


def plan(*steps: dict[str, Any], answer: str | None = None) -> str:
    """A plan reply; `answer` is its answer template (left out when None, as older replies)."""
    reply: dict[str, Any] = {"steps": list(steps)}
    if answer is not None:
        reply["answer"] = answer
    return json.dumps(reply)


def finish(answer: str) -> str:
    return json.dumps({"decision": "finish", "answer": answer, "critique": ""})


def replan(critique: str, wrong: list[str] | None = None) -> str:
    return json.dumps(
        {"decision": "replan", "answer": "", "wrong": wrong or [], "critique": critique}
    )


def write_cassette(path: Path, *replies: str) -> Path:
    """A hand-written cassette: one `{"reply": ...}` line per model call."""
    path.write_text("".join(json.dumps({"reply": r}) + "\n" for r in replies), encoding="utf-8")
    return path


def only_trace(runs_dir: Path) -> list[TraceEvent]:
    traces = sorted(runs_dir.glob("*.jsonl"))
    assert len(traces) == 1, f"expected one trace in {runs_dir}, found {traces}"
    return read_trace(traces[0])


E = TypeVar("E", bound=BaseModel)


def of_type(events: Sequence[TraceEvent], kind: type[E]) -> list[E]:
    """The events of one type (an `agentlab.events` class), in order."""
    return [e for e in events if isinstance(e, kind)]


def failures(events: Sequence[TraceEvent]) -> list[tuple[str, str]]:
    """(category, node) of every failure event, in order."""
    return [(str(e.category), e.node) for e in of_type(events, FailureEvent)]


def agentlab(
    *args: str, cwd: Path, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The `agentlab` command as a user runs it: a real process, no stdin, wide output."""
    return subprocess.run(
        [sys.executable, "-m", "agentlab", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "200"} if env is None else env,
    )
