"""The `python` tool: run code in the Docker sandbox, one persistent session per agent run.

Every call of one run (the executor's `agentlab_run_id`) goes to the same sandbox
session, so later steps see earlier variables; `end_run` closes it. Sandbox
outcomes become `PythonRunError` (a `ToolError`) with the failure category set
where the outcome is known: the kernel names the limit a run hit.
"""

from __future__ import annotations

import mimetypes
import threading
from typing import Any, assert_never

from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel, Field, PrivateAttr

from agentlab.errors import SandboxUnavailableError, ToolError
from agentlab.failures import FailureCategory
from agentlab.sandbox.container import SandboxError
from agentlab.sandbox.limits import MIB, SandboxLimits
from agentlab.sandbox.pool import SandboxPool, shared_pool
from agentlab.sandbox.results import ExecResult, ExecStatus
from agentlab.sandbox.session import Session
from agentlab.tools.base import AgentTool, Artifact, ToolOutput, tool_run_context

TOOL_NAME = "python"
DEFAULT_TIMEOUT_S = 30.0
MAX_TIMEOUT_S = 300.0
# Past the largest per-call timeout: the kernel's restart, or a container replacement.
TOOL_GRACE_S = 45.0
TEXT_CHARS = 4000
"""What the model reads of one call's output; the rest is elided in the middle."""
ERROR_OUTPUT_CHARS = 1500

DESCRIPTION = (
    "Run Python 3 code in a sandbox (no network; numpy, pandas, matplotlib, sympy "
    "installed). Variables persist between calls of the same task. Print what you need, "
    "or end with an expression: its value is returned. Files written to the current "
    "directory (e.g. plt.savefig('plot.png')) are returned as artifacts."
)

# What the model reads when a run fails; one template per outcome.
CODE_RAISED = "The code raised an exception:\n{traceback}"
CODE_RAISED_BARE = "The code raised {type}: {message}"
TIMED_OUT = (
    "The code ran past its {timeout:g} s timeout and was stopped. Make it faster, or pass "
    "a larger `timeout` (at most {max:g} s)."
)
OUT_OF_MEMORY = (
    "The code ran out of memory (the sandbox has {mib} MiB) and was stopped. Use less "
    "memory: smaller arrays, chunks, generators."
)
TOO_MANY_PROCESSES = (
    "The code hit the sandbox's limit of {pids} processes and threads. Do not start "
    "processes or threads in a loop."
)
TOO_MUCH_OUTPUT = (
    "The code wrote more than {limit} of output in one call and was stopped there. Print "
    "a summary (len(), .head(), a slice) instead of whole objects."
)
DISK_FULL = (
    "A write failed because the sandbox's disk is full ({mib} MiB for the work dir, {tmp} "
    "MiB for /tmp). Write smaller files or delete ones you no longer need."
)
CRASHED = "The Python process died: {message}."
PROTOCOL_BROKEN = (
    "The sandbox's reply could not be trusted ({message}), so the sandbox was replaced "
    "as after a crash. If the code writes to file descriptors it did not open, stop: "
    "only print() and files under the work dir come back."
)
STATE_LOST = "The Python session was restarted: variables from earlier calls are gone."
FILES_LOST = "Files written by earlier calls are gone too."
OUTPUT_BEFORE = "Output before the failure:\n{output}"


class PythonArgs(BaseModel):
    """Arguments of the `python` tool."""

    code: str = Field(description="Python source to run.")
    timeout: float = Field(
        default=DEFAULT_TIMEOUT_S,
        gt=0,
        le=MAX_TIMEOUT_S,
        description="Seconds before the run is stopped (the session then restarts empty).",
    )


class PythonOutput(ToolOutput):
    """A successful run: what it printed, the last expression's value, and its files."""

    stdout: str = ""
    stderr: str = ""
    result: str | None = None
    """repr() of the last expression, when the code ended with one."""
    duration_s: float = 0.0

    def as_text(self) -> str:
        parts = [p for p in (self.stdout.rstrip("\n"), self.result) if p]
        if not parts:
            names = ", ".join(a.name for a in self.artifacts)
            return f"(no output; files: {names})" if names else "(no output)"
        return elide("\n".join(parts), TEXT_CHARS)


class PythonRunError(ToolError):
    """A sandbox run that failed; says whether the session's variables survived."""

    def __init__(
        self,
        message: str,
        *,
        category: FailureCategory,
        status: ExecStatus,
        state_lost: bool,
    ) -> None:
        super().__init__(message, category=category, tool_name=TOOL_NAME)
        self.status = status
        self.state_lost = state_lost


class PythonTool(AgentTool):
    """Run Python in the Docker sandbox; one session per agent run."""

    name: str = TOOL_NAME
    description: str = DESCRIPTION
    args_schema: type[BaseModel] = PythonArgs
    timeout_s: float = MAX_TIMEOUT_S + TOOL_GRACE_S
    idempotent: bool = False
    shares_state: bool = True

    limits: SandboxLimits = Field(default_factory=SandboxLimits)
    """The sandbox's limits; every session of this tool runs under them."""
    image: str | None = None
    """The sandbox image; default: the one built from the installed package's inputs."""
    pool_size: int = 1
    """Containers kept warm (shared with other python tools of the same settings)."""
    docker_url: str | None = None
    """The Docker engine; default DOCKER_HOST or the local socket."""

    _sessions: dict[str, Session] = PrivateAttr(default_factory=dict)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def _run(
        self,
        code: str,
        timeout: float = DEFAULT_TIMEOUT_S,
        *,
        config: RunnableConfig,
        **_: Any,
    ) -> PythonOutput:
        run_id = tool_run_context(config).run_id
        try:
            session = self._session(run_id)
            result = session.run(code, timeout=timeout)
        except SandboxUnavailableError as exc:
            raise ToolError(exc.message, tool_name=TOOL_NAME) from exc
        except SandboxError as exc:
            raise ToolError(str(exc), tool_name=TOOL_NAME) from exc
        return to_output(result, self.limits)

    def warm(self) -> None:
        """Start the shared warm pool now, so that the first call of the first run does
        not wait for a cold container. Raises SandboxUnavailableError without an engine."""
        self._pool()

    def end_run(self, run_id: str) -> None:
        """Close the run's sandbox session (its container is removed)."""
        with self._lock:
            session = self._sessions.pop(run_id, None)
        if session is not None:
            session.close()

    def close(self) -> None:
        """Close every session this tool holds."""
        with self._lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
        for session in sessions:
            session.close()

    def _session(self, run_id: str) -> Session:
        # Held while a session starts, so two parallel steps of one run share it.
        with self._lock:
            session = self._sessions.get(run_id)
            if session is None or session.closed:
                session = self._pool().session()
                self._sessions[run_id] = session
            return session

    def _pool(self) -> SandboxPool:
        return shared_pool(
            size=self.pool_size, image=self.image, limits=self.limits, base_url=self.docker_url
        )


def to_output(result: ExecResult, limits: SandboxLimits) -> PythonOutput:
    """The tool's result for a successful run; raises PythonRunError for any other."""
    if result.ok:
        return PythonOutput(
            stdout=result.stdout,
            stderr=result.stderr,
            result=result.result,
            duration_s=result.duration_s,
            artifacts=[
                Artifact(name=f.path, data=f.data, media_type=media_type(f.path))
                for f in result.files
                if f.data is not None
            ],
        )
    category, message = describe_failure(result, limits)
    notes = []
    if result.state_lost:
        notes.append(STATE_LOST)
    if result.container_replaced:
        notes.append(FILES_LOST)
    output = (result.stdout + result.stderr).strip()
    if output and result.status is not ExecStatus.OUTPUT_LIMIT:
        notes.append(OUTPUT_BEFORE.format(output=elide(output, ERROR_OUTPUT_CHARS)))
    text = "\n".join([message.strip(), *notes])
    raise PythonRunError(
        text, category=category, status=result.status, state_lost=result.state_lost
    )


def describe_failure(result: ExecResult, limits: SandboxLimits) -> tuple[FailureCategory, str]:
    """The failure category and the model-facing message for a failed run."""
    error = result.error
    status = result.status
    if status is ExecStatus.OK:
        raise ValueError("a successful run is not a failure")
    if status is ExecStatus.ERROR:
        if error is not None and error.traceback:
            return FailureCategory.EXECUTION_TOOL_ERROR, CODE_RAISED.format(
                traceback=error.traceback
            )
        text = CODE_RAISED_BARE.format(
            type=error.type if error else "Exception", message=error.message if error else ""
        )
        return FailureCategory.EXECUTION_TOOL_ERROR, text
    if status is ExecStatus.CRASHED:
        return FailureCategory.EXECUTION_TOOL_ERROR, CRASHED.format(
            message=error.message if error else ""
        )
    if status is ExecStatus.PROTOCOL_ERROR:
        message = error.message if error else "no reply"
        return FailureCategory.EXECUTION_TOOL_ERROR, PROTOCOL_BROKEN.format(message=message)
    if status is ExecStatus.TIMEOUT:
        text = TIMED_OUT.format(timeout=result.timeout_s, max=MAX_TIMEOUT_S)
        return FailureCategory.EXECUTION_TIMEOUT, text
    if status is ExecStatus.MEMORY_LIMIT:
        return FailureCategory.EXECUTION_RESOURCE_LIMIT, OUT_OF_MEMORY.format(
            mib=limits.memory_bytes // MIB
        )
    if status is ExecStatus.PIDS_LIMIT:
        return FailureCategory.EXECUTION_RESOURCE_LIMIT, TOO_MANY_PROCESSES.format(pids=limits.pids)
    if status is ExecStatus.OUTPUT_LIMIT:
        return FailureCategory.EXECUTION_RESOURCE_LIMIT, TOO_MUCH_OUTPUT.format(
            limit=_size(limits.output_bytes)
        )
    if status is ExecStatus.DISK_LIMIT:
        return FailureCategory.EXECUTION_RESOURCE_LIMIT, DISK_FULL.format(
            mib=limits.work_dir_bytes // MIB, tmp=limits.tmp_bytes // MIB
        )
    assert_never(status)


def elide(text: str, limit: int) -> str:
    """`text` cut to about `limit` chars, keeping the head and the tail."""
    if len(text) <= limit:
        return text
    head = limit * 3 // 4
    tail = limit - head
    omitted = len(text) - head - tail
    return f"{text[:head]}\n[... {omitted:,} chars omitted ...]\n{text[-tail:]}"


def media_type(name: str) -> str:
    guessed, _ = mimetypes.guess_type(name)
    return guessed or "application/octet-stream"


def _size(n: int) -> str:
    return f"{n // MIB} MiB" if n % MIB == 0 else f"{n:,} bytes"
