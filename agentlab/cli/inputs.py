"""Checks of what the user typed, made before anything runs; each failure is a `ConfigError`
the commands print as a usage error (exit code 2)."""

from __future__ import annotations

import math
from pathlib import Path

import typer

from agentlab.errors import ConfigError
from agentlab.private_files import private_dir

MAX_EXEC_TIMEOUT_S = 3600.0
"""The longest `agentlab sandbox exec --timeout`."""


def task_text(task: str | None) -> str | None:
    """The task as given; an empty or blank one is refused (nothing would be asked)."""
    if task is not None and not task.strip():
        raise ConfigError('the task is empty: say what the agent should do, e.g. "What is 17*23?"')
    return task


def folder(path: Path, option: str) -> Path:
    """`path` as a folder to write into, created with its parents when missing."""
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{option} {path} is a file, not a folder; give a folder")
    try:
        private_dir(path)  # traces and cassettes are owner-only, and so are their folders
    except OSError as exc:
        raise ConfigError(f"{option} {path}: cannot create the folder ({exc.strerror})") from None
    return path


def cassette_file(path: Path, option: str = "--record") -> Path:
    """`path` as a cassette file to write; its folder is created when missing."""
    if path.is_dir():
        raise ConfigError(
            f"{option} {path} is a folder; give the cassette's file name, e.g. {path}/run.jsonl"
        )
    folder(path.parent, f"{option} folder")
    return path


def exec_timeout(value: float) -> float:
    """A `typer` callback: seconds, finite, above 0 and at most `MAX_EXEC_TIMEOUT_S`."""
    if not math.isfinite(value) or not 0 < value <= MAX_EXEC_TIMEOUT_S:
        raise typer.BadParameter(f"give seconds above 0 and at most {MAX_EXEC_TIMEOUT_S:g}")
    return value
