"""`files`: create, append to and delete text files inside the run's own workspace.

A write action (`side_effects`): every call waits for approval under the
agent's policy. The workspace is a folder per run (`AGENTLAB_HOME/workspaces/
<run id>`, or under the tool's `root`). The path comes from a model, so it is
refused unless it is relative, made of plain names (no `..`, no drive), and
reaches its file through real folders: the walk opens one component at a time
from a descriptor of the workspace with `O_NOFOLLOW`, so a link planted by an
earlier step (to a folder or a file, inside or outside) is refused, never
followed; a file with other hard links is refused too (it may be a file
outside). A refused call writes nothing and says why.
"""

from __future__ import annotations

import errno
import os
import stat
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel, Field

from agentlab import settings
from agentlab.effects import Effect
from agentlab.errors import ToolError, UnsafePathError
from agentlab.paths import check_name, contained, safe_name
from agentlab.private_files import private_dir
from agentlab.tools.base import WriteTool, tool_run_context
from agentlab.tools.effects import EffectOutput

TOOL_NAME = "files"
MAX_CONTENT_CHARS = 100_000
"""Characters one call may write."""
MAX_FILE_BYTES = 1_000_000
"""The size a file may grow to by appending."""
MAX_DEPTH = 8
"""Folders a path may go down."""

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
FILE_MODE = 0o600


class FilesArgs(BaseModel):
    """Arguments of `files`."""

    action: Literal["create", "append", "delete"] = Field(
        description="create a new file, append to one, or delete one"
    )
    path: str = Field(description="a relative path inside the workspace, e.g. notes/todo.txt")
    content: str = Field(default="", description="the text to write (create, append)")


def workspace_parts(path: str) -> list[str]:
    """The plain names a workspace path is made of; raises `ToolError` for anything that
    could lead outside (absolute, a drive, `..`, separators' look-alikes, control characters)."""
    text = path.strip()
    if not text:
        raise ToolError("give a path inside the workspace, e.g. notes.txt")
    folded = unicodedata.normalize("NFKC", text)
    if (
        PurePosixPath(folded).is_absolute()
        or folded.startswith("\\")
        or PureWindowsPath(folded).drive
        or folded.startswith("~")
    ):
        raise ToolError(f"{path!r} is absolute; give a path relative to the workspace")
    parts = [p for p in folded.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ToolError(f"{path!r} climbs out with '..'; stay inside the workspace")
    if not parts:
        raise ToolError(f"{path!r} names the workspace itself, not a file")
    if len(parts) > MAX_DEPTH + 1:
        raise ToolError(f"{path!r} goes more than {MAX_DEPTH} folders deep")
    for part in parts:
        try:
            check_name(part)
        except UnsafePathError as exc:
            raise ToolError(f"{path!r} is not a workspace path: {exc.message}") from None
    return parts


def _refused(path: str, exc: OSError) -> ToolError:
    if exc.errno in (errno.ELOOP, errno.EMLINK):
        return ToolError(f"{path!r} goes through a link; links in the workspace are not followed")
    if exc.errno == errno.ENOTDIR:
        return ToolError(f"{path!r}: a part of it is not a folder (or is a link)")
    if exc.errno == errno.EEXIST:
        return ToolError(f"{path!r} already exists; append to it, or delete it first")
    if exc.errno == errno.ENOENT:
        return ToolError(f"{path!r} does not exist")
    if exc.errno == errno.ENXIO:
        return ToolError(f"{path!r} is not a regular file")
    return ToolError(f"{path!r}: {exc.strerror or exc}")


@contextmanager
def _folder(root: Path, parts: list[str], path: str, *, create: bool) -> Iterator[int]:
    """A descriptor of the folder holding the file, opened one real folder at a time."""
    fd = os.open(root, _DIR_FLAGS)
    try:
        for part in parts:
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise ToolError(f"{path!r} does not exist") from None
                os.mkdir(part, 0o700, dir_fd=fd)
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
        yield fd
    except OSError as exc:
        raise _refused(path, exc) from None
    finally:
        os.close(fd)


def _check_regular(fd: int, path: str) -> os.stat_result:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise ToolError(f"{path!r} is not a regular file")
    if info.st_nlink > 1:
        raise ToolError(f"{path!r} has other hard links (it may be a file outside); not written")
    return info


def _write(folder: int, name: str, path: str, content: bytes, *, append: bool) -> int:
    flags = _FILE_FLAGS | (os.O_APPEND | os.O_CREAT if append else os.O_CREAT | os.O_EXCL)
    try:
        fd = os.open(name, flags, FILE_MODE, dir_fd=folder)
    except OSError as exc:
        raise _refused(path, exc) from None
    try:
        info = _check_regular(fd, path)
        if info.st_size + len(content) > MAX_FILE_BYTES:
            raise ToolError(f"{path!r} would grow past {MAX_FILE_BYTES:,} bytes; not written")
        os.write(fd, content)
        return info.st_size + len(content)
    finally:
        os.close(fd)


def _delete(folder: int, name: str, path: str) -> None:
    try:
        info = os.stat(name, dir_fd=folder, follow_symlinks=False)
    except OSError as exc:
        raise _refused(path, exc) from None
    if stat.S_ISLNK(info.st_mode):
        raise ToolError(f"{path!r} is a link; links in the workspace are not followed")
    if not stat.S_ISREG(info.st_mode):
        raise ToolError(f"{path!r} is not a regular file")
    os.unlink(name, dir_fd=folder)


class FilesTool(WriteTool):
    """Create, append to or delete text files in the run's workspace."""

    name: str = TOOL_NAME
    description: str = (
        "Write text files in this run's private workspace: action create (a new file), "
        "append, or delete; path relative to the workspace. A write action: it may need "
        "the user's approval."
    )
    args_schema: type[BaseModel] = FilesArgs

    root: Path | None = None
    """Where the runs' workspaces are made; None: `AGENTLAB_HOME/workspaces`."""

    def workspace(self, run_id: str) -> Path:
        """The run's workspace folder, made owner-only if missing."""
        root = self.root if self.root is not None else settings.home() / "workspaces"
        return private_dir(contained(private_dir(root), safe_name(run_id)))

    def _run(
        self,
        action: str,
        path: str,
        content: str = "",
        *,
        config: RunnableConfig,
        **_: Any,
    ) -> EffectOutput:
        parts = workspace_parts(path)
        shown = "/".join(parts)
        if len(content) > MAX_CONTENT_CHARS:
            raise ToolError(f"content is over {MAX_CONTENT_CHARS:,} characters; write less")
        root = self.workspace(tool_run_context(config).run_id)
        with _folder(root, parts[:-1], path, create=action != "delete") as folder:
            if action == "delete":
                _delete(folder, parts[-1], path)
                detail = "deleted"
            else:
                data = content.encode("utf-8")
                size = _write(folder, parts[-1], path, data, append=action == "append")
                detail = f"{len(data)} bytes written, {size} in the file"
        effect = Effect(tool=self.name, action=action, target=shown, detail=detail)
        past = {"create": "created", "append": "appended to", "delete": "deleted"}[action]
        return EffectOutput(effect=effect, summary=f"{past} {shown} in the workspace ({detail})")
