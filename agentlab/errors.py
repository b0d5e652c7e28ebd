"""The exceptions agentlab raises, under one root.

Three families are kept apart:

* signals a model can act on: `ToolError` (a tool refused or failed; the
  executor turns it into a step result and a failure event);
* mistakes of the developer using agentlab: `ConfigError`;
* run failures outside the model's control: `ModelError` (the backend failed)
  and `SandboxUnavailableError` (no Docker engine).

Exceptions carry typed payloads and have no side effects: whoever handles one
logs it.
"""

from __future__ import annotations

from agentlab.failures import FailureCategory

__all__ = [
    "AgentlabError",
    "ConfigError",
    "ContextOverflowError",
    "ModelAPIError",
    "ModelError",
    "ReplayExhaustedError",
    "SandboxUnavailableError",
    "ToolError",
    "TraceError",
    "UnsafePathError",
]


class AgentlabError(Exception):
    """Root of every exception agentlab raises on purpose."""


class ConfigError(AgentlabError):
    """The developer asked for something that cannot work (unknown tool, bad model spec...)."""


class TraceError(ConfigError, ValueError):
    """A trace file that cannot be read as typed events: a line that is not a valid event,
    or a trace in an older format (the message names the command that converts it)."""


class UnsafePathError(ConfigError):
    """A name from outside (a run, step, task or artifact id) would not stay a plain file
    name inside its folder (see `agentlab.paths.contained`)."""

    def __init__(self, message: str, *, name: str) -> None:
        super().__init__(f"unsafe file name: {message}")
        self.message = message
        self.name = name


class ToolError(AgentlabError):
    """A tool refused its input or failed; the message is written for the model to act on."""

    def __init__(
        self,
        message: str,
        *,
        category: FailureCategory = FailureCategory.EXECUTION_TOOL_ERROR,
        tool_name: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.category = category
        self.tool_name = tool_name


class ModelError(AgentlabError):
    """The model backend could not produce a reply."""

    category: FailureCategory = FailureCategory.MODEL_API_ERROR

    def __init__(self, message: str, *, node: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.node = node


class ModelAPIError(ModelError):
    """The backend failed after its retries (rate limit, timeout, 5xx, refused connection)."""


class ContextOverflowError(ModelError):
    """The prompt did not fit the model's context window."""

    category = FailureCategory.MODEL_CONTEXT_OVERFLOW


class ReplayExhaustedError(ModelError):
    """A replay cassette was asked for more replies than it holds: the run differs from the
    recorded one (not a backend failure)."""

    category = FailureCategory.MODEL_REPLAY_EXHAUSTED


class SandboxUnavailableError(AgentlabError):
    """No Docker engine answers; code is never run outside the sandbox instead."""

    def __init__(self, message: str, *, docker_host: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.docker_host = docker_host
