"""Owner-only files and folders for what agentlab writes about a run.

Traces, cassettes, eval outputs and the memory and thread databases hold
tasks, tool outputs and answers, which can be private even after redaction:
agentlab creates its folders 0700 and these files 0600, whatever the umask.
Folders that already exist are left as their owner set them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

__all__ = ["DIR_MODE", "FILE_MODE", "open_private", "private_dir", "private_file"]

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path | str) -> Path:
    """`path` as a folder, creating it and any missing parents owner-only."""
    folder = Path(path)
    missing: list[Path] = []
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            break
        missing.append(candidate)
    for candidate in reversed(missing):
        try:
            candidate.mkdir(mode=DIR_MODE)
        except FileExistsError:  # another process made it in between
            continue
        os.chmod(candidate, DIR_MODE)  # mkdir's mode is filtered by the umask
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is not a folder")
    return folder


def private_file(path: Path | str) -> Path:
    """Create `path` (and its folder) owner-only if missing, else make it owner-only."""
    file = Path(path)
    private_dir(file.parent)
    os.close(os.open(file, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    os.chmod(file, FILE_MODE)
    return file


def write_private_bytes(path: Path | str, data: bytes) -> None:
    """Write `data` to `path` (replacing it), the file owner-only."""
    file = Path(path)
    private_dir(file.parent)
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def open_private(path: Path | str, mode: str = "a") -> IO[str]:
    """`open(path, mode)` for text (`"a"` or `"w"`), the file owner-only."""
    if mode not in ("a", "w"):
        raise ValueError(f"open_private writes text with mode 'a' or 'w', not {mode!r}")
    file = Path(path)
    private_dir(file.parent)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "a" else os.O_TRUNC)
    fd = os.open(file, flags, FILE_MODE)
    os.fchmod(fd, FILE_MODE)  # an existing file keeps its old mode through os.open
    return os.fdopen(fd, mode, encoding="utf-8")
