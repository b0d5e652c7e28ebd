"""What running code in the sandbox returns (`ExecResult`: a status naming the outcome, the
output, the files) and what a grade returns (`GradeResult`: the judge's verdict).

Named `Exec*` so as not to be mistaken for a whole agent run (`agentlab.runner.RunResult`,
`agentlab.state.RunStatus`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentlab.sandbox.protocol import ErrorInfo, FileEntry, GradeReply, RunReply


class ExecStatus(StrEnum):
    """How running a piece of code ended. Everything but OK and ERROR means the sandbox
    stopped it."""

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
    PROTOCOL_ERROR = "protocol_error"
    """The kernel's reply was malformed, oversized or not bound to this request (a
    forgery, or a broken kernel): the container was replaced, as after a crash."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CodeError:
    """The exception that ended a run, as the code's author should see it."""

    type: str
    message: str
    traceback: str = ""

    @classmethod
    def from_info(cls, info: ErrorInfo | None) -> CodeError | None:
        if info is None:
            return None
        return cls(type=info.type, message=info.message, traceback=info.traceback)


@dataclass(frozen=True, slots=True, kw_only=True)
class SandboxFile:
    """A file under the sandbox's work dir; `data` is None when it was over the byte budget."""

    path: str
    size: int
    data: bytes | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecResult:
    """The outcome of one `Session.run`."""

    status: ExecStatus
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
        return self.status is ExecStatus.OK

    @classmethod
    def from_reply(cls, reply: RunReply, timeout_s: float) -> ExecResult:
        """The result of a run, from the kernel's validated reply."""
        return cls(
            status=ExecStatus(reply.status),
            stdout=reply.stdout,
            stderr=reply.stderr,
            result=reply.result,
            error=CodeError.from_info(reply.error),
            files=tuple(parse_files(reply.files)),
            state_lost=reply.state_lost,
            duration_s=reply.duration_s,
            timeout_s=timeout_s,
            stdout_dropped=reply.stdout_dropped,
            stderr_dropped=reply.stderr_dropped,
        )


def parse_files(entries: Iterable[FileEntry]) -> list[SandboxFile]:
    return [SandboxFile(path=e.path, size=e.size, data=e.data) for e in entries]


class GradeOutcome(StrEnum):
    """How a grade ended. Only PASSED passes."""

    PASSED = "passed"
    """The tests ran to their end in the judge."""
    FAILED = "failed"
    """A test raised (an assertion, or an exception from the code under test)."""
    CODE_FAILED = "code_failed"
    """The code under test did not load: it raised, or hit a limit, before any test."""
    TIMEOUT = "timeout"
    """The grade (loading and every test) passed its timeout."""
    CRASHED = "crashed"
    """The code's process or the judge died, or a reply broke the protocol."""


@dataclass(frozen=True, slots=True, kw_only=True)
class GradeResult:
    """The outcome of one `Session.grade`: the judge's verdict, never the code's word."""

    outcome: GradeOutcome
    error: CodeError | None = None
    """Why it did not pass: the test's exception, or what stopped the code."""
    duration_s: float = 0.0
    timeout_s: float = 0.0

    @property
    def passed(self) -> bool:
        return self.outcome is GradeOutcome.PASSED

    @classmethod
    def from_reply(cls, reply: GradeReply, timeout_s: float) -> GradeResult:
        return cls(
            outcome=GradeOutcome(reply.outcome),
            error=CodeError.from_info(reply.error),
            duration_s=reply.duration_s,
            timeout_s=timeout_s,
        )
