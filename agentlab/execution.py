"""Running one tool call: reference substitution, error classification, artifacts.

The executor node schedules steps; this module does what happens to each one.
"""

from __future__ import annotations

import json
import unicodedata
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool, StructuredTool, ToolException
from pydantic import ValidationError

from agentlab import background_loop
from agentlab.errors import SandboxUnavailableError, ToolError
from agentlab.failures import FailureCategory
from agentlab.fan_out import element_text
from agentlab.paths import contained
from agentlab.private_files import private_dir, write_private_bytes
from agentlab.schemas import REFERENCE
from agentlab.state import StepResult
from agentlab.tools.base import (
    ARTIFACTS_DIR_KEY,
    RUN_ID_KEY,
    Artifact,
    ToolOutput,
    content_text,
)

TOOL_ERROR = "{tool} failed: {message}"
"""What the model reads of any tool error (one formatter for every tool)."""

TIMEOUT_MESSAGE = "no result within {seconds:g} s; make the call smaller or faster"
SKIPPED_MESSAGE = "not run: it needs {refs}, which failed or was skipped"
NOT_TAKEN_MESSAGE = "not run: it needs {refs}, whose condition was false"
CONDITION_FALSE = "not run: its condition {condition!r} is false"


class UnresolvedReferenceError(LookupError):
    """A `${id}` names a step with no result."""

    def __init__(self, ref: str) -> None:
        super().__init__(ref)
        self.ref = ref


def format_tool_error(tool: str, message: str) -> str:
    return TOOL_ERROR.format(tool=tool, message=message)


def reference_text(results: dict[str, StepResult], ref: str, index: int | None) -> str:
    """What `${ref}` (or `${ref[index]}`) stands for: the step's output text, or one element
    of its list result. Raises `UnresolvedReferenceError` when it has none."""
    result = results.get(ref)
    text: str | None = None
    if result is not None:
        text = result.output if index is None and result.status == "ok" else None
        if index is not None:
            text = element_text(result, index)
    if text is None:
        raise UnresolvedReferenceError(ref)
    return text


def substitute(
    value: Any, results: dict[str, StepResult], bindings: dict[str, str] | None = None
) -> Any:
    """`value` with every `${id}` replaced by that step's output text (`${id[i]}` by one
    element of its list), and every `${name}` of `bindings` (a fan-out's item) by its text."""
    if isinstance(value, str):

        def replace(match: Any) -> str:
            ref, index = match.group(1), match.group(2)
            if bindings and ref in bindings and index is None:
                return bindings[ref]
            return reference_text(results, ref, int(index) if index is not None else None)

        return REFERENCE.sub(replace, value)
    if isinstance(value, dict):
        return {k: substitute(v, results, bindings) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, results, bindings) for v in value]
    return value


def call_key(tool: str, args: dict[str, Any]) -> str:
    """Identity of a tool call, for spotting repeated actions."""
    return f"{tool}:{json.dumps(args, sort_keys=True, default=str)}"


def tool_config(run_id: str, artifacts_dir: Path | None) -> dict[str, Any]:
    """The RunnableConfig a tool call receives (tools read it with `tool_run_context`)."""
    configurable: dict[str, Any] = {RUN_ID_KEY: run_id}
    if artifacts_dir is not None:
        configurable[ARTIFACTS_DIR_KEY] = str(artifacts_dir)
    return {"configurable": configurable}


def is_coroutine_only(tool: BaseTool) -> bool:
    """Whether the tool can only be called with `ainvoke` (a `StructuredTool` with a
    coroutine and no function, as every MCP tool is)."""
    return isinstance(tool, StructuredTool) and tool.func is None and tool.coroutine is not None


def _reports_status(tool: BaseTool) -> bool:
    """Whether the tool turns its own errors into output (`handle_tool_error`), or returns
    content and an artifact: called with a tool call, it says which in a `ToolMessage`."""
    return bool(tool.handle_tool_error or tool.handle_validation_error) or (
        tool.response_format == "content_and_artifact"
    )


def _tool_input(tool: BaseTool, args: dict[str, Any]) -> dict[str, Any]:
    if _reports_status(tool):
        return {"type": "tool_call", "name": tool.name, "args": args, "id": TOOL_CALL_ID}
    return args


def _settled(tool: BaseTool, output: Any) -> Any:
    """The tool's output, or a `ToolError` for an error it reported as output (an MCP
    server's error, with the server's message)."""
    if isinstance(output, ToolMessage) and output.status == "error":
        raise ToolError(content_text(output.content) or "the tool reported an error")
    return output


TOOL_CALL_ID = "agentlab"
"""The id of the tool call a status-reporting tool is invoked with (it is not sent anywhere)."""


def invoke_tool(tool: BaseTool, args: dict[str, Any], config: dict[str, Any]) -> Any:
    """Run a synchronous tool (in a tool thread); LangChain validates `args` against a
    pydantic schema first, a JSON-schema tool gets them unchanged."""
    try:
        output = tool.invoke(_tool_input(tool, args), config=config)  # type: ignore[arg-type]
    except NotImplementedError:
        if type(tool)._arun is BaseTool._arun:
            raise
        # A tool that implements only `_arun` (its `_run` refuses): run that instead.
        output = background_loop.run(tool.ainvoke(_tool_input(tool, args), config=config))  # type: ignore[arg-type]
    return _settled(tool, output)


async def ainvoke_tool(tool: BaseTool, args: dict[str, Any], config: dict[str, Any]) -> Any:
    """Run a coroutine-only tool (on the background loop)."""
    output = await tool.ainvoke(_tool_input(tool, args), config=config)  # type: ignore[arg-type]
    return _settled(tool, output)


def start_call(
    tool: BaseTool, args: dict[str, Any], config: dict[str, Any], pool: ThreadPoolExecutor
) -> Future[Any]:
    """Start one tool call: a coroutine-only tool on the background loop (cancelling the
    future cancels it), any other in a tool thread."""
    if is_coroutine_only(tool):
        return background_loop.submit(ainvoke_tool(tool, args, config))
    return pool.submit(invoke_tool, tool, args, config)


def classify_error(exc: BaseException) -> tuple[FailureCategory, str]:
    """The failure category and the model-facing message of a tool call's exception."""
    if isinstance(exc, ToolError):
        return exc.category, exc.message
    if isinstance(exc, ValidationError):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:4]
        )
        return FailureCategory.PLANNING_INVALID_ARGUMENTS, f"bad arguments: {problems}"
    if isinstance(exc, SandboxUnavailableError):
        return FailureCategory.EXECUTION_TOOL_ERROR, exc.message
    if isinstance(exc, ToolException):
        # A langchain tool's own error (an MCP server's, raised by its adapter): its message.
        return FailureCategory.EXECUTION_TOOL_ERROR, str(exc) or type(exc).__name__
    if isinstance(exc, TimeoutError):
        return FailureCategory.EXECUTION_TIMEOUT, str(exc) or "timed out"
    return FailureCategory.EXECUTION_TOOL_ERROR, f"{type(exc).__name__}: {exc}"


def save_artifacts(output: Any, directory: Path | None, step_id: str) -> list[str]:
    """Write a tool output's artifacts beside the trace as `<step id>-<name>`; returns their
    paths. Raises `UnsafePathError` rather than write outside `directory`."""
    if not isinstance(output, ToolOutput) or not output.artifacts or directory is None:
        return []
    targets = [contained(directory, f"{step_id}-{_file_name(a)}") for a in output.artifacts]
    private_dir(directory)
    for artifact, target in zip(output.artifacts, targets, strict=True):
        write_private_bytes(target, artifact.data)
    return [str(target) for target in targets]


ARTIFACT_NAME_BYTES = 160
"""Artifact names are cut to this many bytes (the step id and a dash go before them)."""


def _file_name(artifact: Artifact) -> str:
    """An artifact's name (chosen by the tool, or by sandboxed code) as one plain file name:
    separators, their look-alikes and control characters become `_`; a long name keeps its
    suffix."""
    name = unicodedata.normalize("NFKC", artifact.name)
    name = "".join(
        "_" if ch in "/\\" or unicodedata.category(ch) in ("Cc", "Cs") else ch for ch in name
    )
    name = name or "artifact"
    if len(name.encode("utf-8")) <= ARTIFACT_NAME_BYTES:
        return name
    suffix = Path(name).suffix[:16]
    stem = name.encode("utf-8")[: ARTIFACT_NAME_BYTES - len(suffix.encode("utf-8"))]
    return stem.decode("utf-8", "ignore") + suffix
