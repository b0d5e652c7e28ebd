"""What every agentlab tool shares: typed outputs, artifacts, run context, timeouts.

A tool is a langchain-core `BaseTool`; its arguments are read however it declared
them (`agentlab.tools.arguments`). agentlab's own tools subclass `AgentTool`,
which adds a timeout and says whether a repeated identical call may reuse the
earlier result. Any other `BaseTool` (an `@tool` function, a JSON-schema
`StructuredTool`, an MCP tool, a coroutine-only tool) works too and gets the
defaults, or sets them in its `metadata`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from langchain_core.messages import ToolMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from pydantic import BaseModel, Field

DEFAULT_TIMEOUT_S = 30.0

# Keys under RunnableConfig["configurable"] that the executor sets for each tool call.
RUN_ID_KEY = "agentlab_run_id"
ARTIFACTS_DIR_KEY = "agentlab_artifacts_dir"


class Artifact(BaseModel):
    """A file a tool produced (a plot, a CSV); saved beside the run's trace."""

    name: str
    data: bytes = Field(repr=False)
    media_type: str = "application/octet-stream"


class ToolOutput(BaseModel):
    """Base of typed tool results.

    `as_text()` is what a `${step}` reference substitutes and what the model reads.
    """

    artifacts: list[Artifact] = Field(default_factory=list)

    def as_text(self) -> str:
        raise NotImplementedError


class AgentTool(BaseTool):
    """A `BaseTool` with agentlab's execution policy attached."""

    timeout_s: float = DEFAULT_TIMEOUT_S
    """Seconds a call may run before the executor records `execution.timeout`."""

    idempotent: bool = True
    """Whether a repeated identical call may return the earlier result instead of re-running."""

    direct_answer: bool = True
    """Whether the tool's output can stand as a final answer (a number, a short text); False
    for tools whose output must be read first (a page of search hits)."""

    side_effects: bool = False
    """Whether a call changes something outside the run (writes a file, sends a message): such
    a write action waits for approval under the agent's approval policy."""

    external_output: bool = False
    """Whether the output is text from outside (documents, web pages): it is screened for
    prompt injection and shown to the model as untrusted data."""

    private_values: bool = False
    """Whether the tool receives masked secrets and personal data as they were written in the
    task (an outbox needs the real address); every other tool and the model see placeholders."""

    shares_state: bool = False
    """Whether a run's calls share state (one Python session): its steps run one at a time,
    in plan order, even when the plan lets them run side by side."""


class WriteTool(AgentTool):
    """An `AgentTool` that acts on the world (writes a file, queues a message): each call
    waits for approval, is never replayed from an earlier identical call, and receives the
    task's real values where the model saw placeholders."""

    timeout_s: float = 10.0
    idempotent: bool = False
    side_effects: bool = True
    external_output: bool = False
    private_values: bool = True


@runtime_checkable
class RunScoped(Protocol):
    """A tool holding per-run resources (a sandbox session) that must be released."""

    def end_run(self, run_id: str) -> None: ...


@dataclass(frozen=True, slots=True)
class ToolRunContext:
    """Which run a tool call belongs to, and where its artifacts go."""

    run_id: str
    artifacts_dir: Path | None


def tool_run_context(config: RunnableConfig | None) -> ToolRunContext:
    """Read the run context the executor put into a tool call's config."""
    configurable: dict[str, Any] = dict((config or {}).get("configurable") or {})
    artifacts = configurable.get(ARTIFACTS_DIR_KEY)
    return ToolRunContext(
        run_id=str(configurable.get(RUN_ID_KEY) or "default"),
        artifacts_dir=Path(artifacts) if artifacts else None,
    )


def _policy(tool: BaseTool, name: str, default: Any) -> Any:
    # agentlab tools carry the policy as fields; any other tool may set it in `metadata`.
    if hasattr(tool, name):
        return getattr(tool, name)
    return (tool.metadata or {}).get(name, default)


def tool_timeout(tool: BaseTool) -> float:
    """The tool's timeout in seconds: `AgentTool.timeout_s`, else `metadata["timeout_s"]`."""
    return float(_policy(tool, "timeout_s", DEFAULT_TIMEOUT_S))


def tool_is_idempotent(tool: BaseTool) -> bool:
    """Whether a repeated identical call may reuse the earlier result (default: no)."""
    return bool(_policy(tool, "idempotent", False))


def tool_shares_state(tool: BaseTool) -> bool:
    """Whether the tool's calls in a run share state, so run in plan order (default: no)."""
    return bool(_policy(tool, "shares_state", False))


def tool_answers_directly(tool: BaseTool) -> bool:
    """Whether the tool's output can be an answer as it is (default: yes)."""
    return bool(_policy(tool, "direct_answer", True))


def tool_has_side_effects(tool: BaseTool) -> bool:
    """Whether a call is a write action (`AgentTool.side_effects`, else
    `metadata["side_effects"]`; default: no)."""
    return bool(_policy(tool, "side_effects", False))


def tool_output_is_external(tool: BaseTool) -> bool:
    """Whether the tool's output is text from outside, to screen and fence (default for a tool
    that is not agentlab's own: yes, as an MCP server's or a custom tool's output may be)."""
    return bool(_policy(tool, "external_output", True))


def tool_gets_private_values(tool: BaseTool) -> bool:
    """Whether the tool is given masked values unmasked (default: no)."""
    return bool(_policy(tool, "private_values", False))


def tool_is_declared(tool: BaseTool) -> bool:
    """Whether a tool is a declared function only: a stub whose call, not its effect, is what
    counts (BFCL's functions). A baseline without tools answers with calls to such functions."""
    return bool(_policy(tool, "declared", False))


def content_text(content: Any) -> str:
    """The text of message content: a string, or content blocks (`{"type": "text", "text":
    ...}`, what MCP tools return), their texts joined and other blocks named by type."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, dict) and block.get("type") == "text":
                parts.append(str(block.get("text", "")))
            elif isinstance(block, dict):
                parts.append(f"[{block.get('type', 'block')}]")
            else:
                parts.append(str(block))
        return "\n".join(parts)
    return str(content)


def _is_content(output: Any) -> bool:
    return isinstance(output, list) and all(
        isinstance(block, dict) and "type" in block for block in output
    )


def output_text(output: Any) -> str:
    """The text of any tool's return value: typed outputs say it, message content is its
    text, anything else is str()."""
    if isinstance(output, ToolOutput):
        return output.as_text()
    if isinstance(output, ToolMessage) or _is_content(output):
        return content_text(output.content if isinstance(output, ToolMessage) else output)
    if isinstance(output, BaseModel):
        return output.model_dump_json()
    return str(output)


def output_data(output: Any) -> Any:
    """A JSON-ready form of a tool's return value, for the trace and the state (an MCP
    tool's structured content when it gave one)."""
    if isinstance(output, ToolMessage):
        artifact = output.artifact
        if isinstance(artifact, dict) and artifact.get("structured_content") is not None:
            return _json_ready(artifact["structured_content"])
        return content_text(output.content)
    if _is_content(output):
        return content_text(output)
    if isinstance(output, BaseModel):
        return output.model_dump(mode="json", exclude={"artifacts"})
    if isinstance(output, str | int | float | bool) or output is None:
        return output
    if isinstance(output, list | tuple):
        # A list a tool returns stays a list: a fan-out (`for_each`) can run over it.
        return _json_ready(list(output))
    return str(output)


def _json_ready(value: Any) -> Any:
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        return str(value)
