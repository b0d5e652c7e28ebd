"""`Session`: one sandbox container holding one Python namespace, notebook style.

Runs in a session are serialised (one kernel, one namespace). A run that passes
its timeout is stopped inside the container by the kernel, which restarts its
worker empty; if the kernel itself stops answering, or its reply breaks the
protocol (malformed, oversized, not bound to the request), the whole container
is replaced. Either way the session stays usable, and the result says what was
lost. `grade` runs code against a check's tests with the kernel's judge.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType

import docker

from agentlab.sandbox.channel import ChannelClosed, ChannelError, ChannelTimeout, ProtocolViolation
from agentlab.sandbox.client import connect
from agentlab.sandbox.container import Kernel, SandboxError
from agentlab.sandbox.image import image_tag
from agentlab.sandbox.limits import SandboxLimits
from agentlab.sandbox.protocol import FilesReply, GradeReply, RunReply
from agentlab.sandbox.results import (
    CodeError,
    ExecResult,
    ExecStatus,
    GradeOutcome,
    GradeResult,
    SandboxFile,
    parse_files,
)

DEFAULT_RUN_TIMEOUT_S = 30.0
FILES_TIMEOUT_S = 30.0

KernelFactory = Callable[[], Kernel]


class Session:
    """A stateful Python sandbox: `run(code)`, `files()`, `close()`.

    Start one with `Session.start()` (a cold container) or `SandboxPool.session()`
    (a pre-started one). Use as a context manager, or call `close()`.
    """

    def __init__(self, kernel: Kernel, new_kernel: KernelFactory) -> None:
        self._kernel = kernel
        self._new_kernel = new_kernel
        self._lock = threading.Lock()
        self._run_id = 0
        self._closed = False

    @classmethod
    def start(
        cls,
        *,
        image: str | None = None,
        limits: SandboxLimits | None = None,
        client: docker.DockerClient | None = None,
    ) -> Session:
        """Start a session in a new container (no pool). Raises SandboxUnavailableError
        when no engine answers and SandboxError when the container cannot start."""
        docker_client = client or connect()
        tag = image or image_tag()
        lim = limits or SandboxLimits()

        def factory() -> Kernel:
            return Kernel.start(docker_client, tag, lim)

        return cls(factory(), factory)

    @property
    def container_id(self) -> str:
        return self._kernel.id

    @property
    def limits(self) -> SandboxLimits:
        return self._kernel.limits

    @property
    def closed(self) -> bool:
        return self._closed

    def run(self, code: str, *, timeout: float = DEFAULT_RUN_TIMEOUT_S) -> ExecResult:
        """Run `code` in the session's namespace; waits for earlier runs to finish first."""
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        with self._lock:
            self._check_open()
            self._run_id += 1
            limits = self._kernel.limits
            request = {
                "op": "run",
                "id": self._run_id,
                "code": code,
                "timeout": timeout,
                "output_bytes": limits.output_bytes,
                "file_bytes": limits.file_bytes,
            }
            started = time.monotonic()
            try:
                reply = self._kernel.channel.request(
                    request, RunReply, timeout + limits.restart_grace_s
                )
            except ChannelError as exc:
                status, why = self._channel_failed(exc)
                return self._lost(status, timeout, started, why)
            return ExecResult.from_reply(reply, timeout)

    def grade(
        self,
        code: str,
        tests: str,
        *,
        prelude: str = "",
        entry_point: str | None = None,
        timeout: float = DEFAULT_RUN_TIMEOUT_S,
    ) -> GradeResult:
        """Run `code` (in the worker) against `tests` (in the kernel's judge, after
        `prelude`); the tests call the code's top-level functions by name, or through
        `entry_point`. The verdict is the judge's; nothing the code writes can pass it.
        The session's namespace is reset afterwards."""
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        if entry_point is not None and not entry_point.isidentifier():
            raise ValueError(f"entry point {entry_point!r} is not an identifier")
        with self._lock:
            self._check_open()
            self._run_id += 1
            request = {
                "op": "grade",
                "id": self._run_id,
                "code": code,
                "tests": tests,
                "prelude": prelude,
                "entry_point": entry_point,
                "timeout": timeout,
                "output_bytes": self._kernel.limits.output_bytes,
            }
            started = time.monotonic()
            try:
                reply = self._kernel.channel.request(
                    request, GradeReply, timeout + self._kernel.limits.restart_grace_s
                )
            except ChannelError as exc:
                status, why = self._channel_failed(exc)
                outcome = (
                    GradeOutcome.TIMEOUT if status is ExecStatus.TIMEOUT else GradeOutcome.CRASHED
                )
                return GradeResult(
                    outcome=outcome,
                    error=CodeError(type="SandboxRestarted", message=why),
                    duration_s=time.monotonic() - started,
                    timeout_s=timeout,
                )
            return GradeResult.from_reply(reply, timeout)

    def files(self) -> list[SandboxFile]:
        """Every file under the work dir, with its bytes while the byte budget lasts."""
        with self._lock:
            self._check_open()
            try:
                reply = self._kernel.channel.request(
                    {"op": "files", "file_bytes": self._kernel.limits.file_bytes},
                    FilesReply,
                    FILES_TIMEOUT_S,
                )
            except ChannelError as exc:
                _, why = self._channel_failed(exc)
                raise SandboxError(f"cannot list the sandbox's files: {why}") from exc
            return parse_files(reply.files)

    def close(self) -> None:
        """Remove the container. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._kernel.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise SandboxError("this sandbox session is closed")

    def _channel_failed(self, exc: ChannelError) -> tuple[ExecStatus, str]:
        """Replace the kernel after its channel failed: the outcome, and why."""
        if isinstance(exc, ChannelTimeout):
            # The kernel should have stopped the run itself; it is wedged.
            status, why = ExecStatus.TIMEOUT, "the kernel stopped answering"
        elif isinstance(exc, ProtocolViolation):
            status, why = (
                ExecStatus.PROTOCOL_ERROR,
                f"the sandbox's reply broke the protocol: {exc}",
            )
        elif isinstance(exc, ChannelClosed) and self._kernel.oom_killed():
            status, why = ExecStatus.MEMORY_LIMIT, f"the sandbox container died ({exc})"
        else:
            status, why = ExecStatus.CRASHED, f"the sandbox container died ({exc})"
        self._replace_kernel()
        return status, why

    def _replace_kernel(self) -> None:
        self._kernel.close()
        self._kernel = self._new_kernel()

    @staticmethod
    def _lost(status: ExecStatus, timeout: float, started: float, why: str) -> ExecResult:
        return ExecResult(
            status=status,
            error=CodeError(type="SandboxRestarted", message=why),
            state_lost=True,
            container_replaced=True,
            duration_s=time.monotonic() - started,
            timeout_s=timeout,
        )
