"""What a sandbox run returns: a status naming the outcome, the output, the files."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class RunStatus(StrEnum):
    """How a run ended. Everything but OK and ERROR means the sandbox stopped it."""

    OK = "ok"
    ERROR = "error"
    """The code raised; the namespace is intact."""
    TIMEOUT = "timeout"
    """The run passed its timeout and was killed; the kernel restarted empty."""
    MEMORY_LIMIT = "memory_limit"
    """The memory limit was hit (OOM kill or MemoryError)."""
    PIDS_LIMIT = "pids_limit"
    """The process/thread limit refused a fork (a fork bomb, too many threads)."""
    OUTPUT_LIMIT = "output_limit"
    """The run wrote more than the per-run stdout/stderr limit and was stopped there."""
    DISK_LIMIT = "disk_limit"
    """A write failed because the work dir or /tmp is full."""
    CRASHED = "crashed"
    """The Python process died (os._exit, a segfault, a killed kernel)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CodeError:
    """The exception that ended a run, as the code's author should see it."""

    type: str
    message: str
    traceback: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class SandboxFile:
    """A file under the sandbox's work dir; `data` is None when it was over the byte budget."""

    path: str
    size: int
    data: bytes | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    """The outcome of one `Session.run`."""

    status: RunStatus
    stdout: str = ""
    """Captured stdout (Python's and subprocesses'), capped with a marker."""
    stderr: str = ""
    result: str | None = None
    """repr() of the last expression, when the code ended with one that was not None."""
    error: CodeError | None = None
    files: tuple[SandboxFile, ...] = ()
    """Files created or changed under the work dir by this run."""
    state_lost: bool = False
    """The namespace was reset (after a timeout or crash): earlier variables are gone."""
    container_replaced: bool = False
    """The whole container was replaced: earlier files under the work dir are gone too."""
    duration_s: float = 0.0
    timeout_s: float = 0.0
    stdout_dropped: int = 0
    """Bytes of stdout past the limit, dropped."""
    stderr_dropped: int = 0

    @property
    def ok(self) -> bool:
        return self.status is RunStatus.OK

    @classmethod
    def from_reply(cls, reply: dict[str, Any], timeout_s: float) -> RunResult:
        """Parse the kernel's reply to a run request."""
        error = reply.get("error")
        return cls(
            status=RunStatus(reply["status"]),
            stdout=str(reply.get("stdout", "")),
            stderr=str(reply.get("stderr", "")),
            result=reply.get("result"),
            error=CodeError(
                type=str(error.get("type", "Error")),
                message=str(error.get("message", "")),
                traceback=str(error.get("traceback", "")),
            )
            if error
            else None,
            files=tuple(parse_files(reply.get("files") or [])),
            state_lost=bool(reply.get("state_lost")),
            duration_s=float(reply.get("duration_s", 0.0)),
            timeout_s=timeout_s,
            stdout_dropped=int(reply.get("stdout_dropped", 0)),
            stderr_dropped=int(reply.get("stderr_dropped", 0)),
        )


def parse_files(entries: list[dict[str, Any]]) -> list[SandboxFile]:
    return [
        SandboxFile(
            path=str(e["path"]),
            size=int(e["size"]),
            data=base64.b64decode(e["data"]) if e.get("data") is not None else None,
        )
        for e in entries
    ]
