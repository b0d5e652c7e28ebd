"""Running one tool call: reference substitution, error classification, artifacts.

The executor node schedules steps; this module does what happens to each one.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import Any

from langchain_core.tools import BaseTool
from pydantic import ValidationError

from agentlab.errors import SandboxUnavailableError, ToolError
from agentlab.failures import FailureCategory
from agentlab.paths import contained
from agentlab.private_files import private_dir, write_private_bytes
from agentlab.schemas import REFERENCE
from agentlab.state import StepResult
from agentlab.tools.base import ARTIFACTS_DIR_KEY, RUN_ID_KEY, Artifact, ToolOutput

TOOL_ERROR = "{tool} failed: {message}"
"""What the model reads of any tool error (one formatter for every tool)."""

TIMEOUT_MESSAGE = "no result within {seconds:g} s; make the call smaller or faster"
SKIPPED_MESSAGE = "not run: it needs {refs}, which failed or was skipped"


class UnresolvedReferenceError(LookupError):
    """A `${id}` names a step with no result."""

    def __init__(self, ref: str) -> None:
        super().__init__(ref)
        self.ref = ref


def format_tool_error(tool: str, message: str) -> str:
    return TOOL_ERROR.format(tool=tool, message=message)


def substitute(value: Any, results: dict[str, StepResult]) -> Any:
    """`value` with every `${id}` replaced by that step's output text."""
    if isinstance(value, str):

        def replace(match: Any) -> str:
            ref = match.group(1)
            if ref not in results or results[ref].status != "ok":
                raise UnresolvedReferenceError(ref)
            return results[ref].output

        return REFERENCE.sub(replace, value)
    if isinstance(value, dict):
        return {k: substitute(v, results) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, results) for v in value]
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


def invoke_tool(tool: BaseTool, args: dict[str, Any], config: dict[str, Any]) -> Any:
    """Run the tool; LangChain validates `args` against its schema first."""
    return tool.invoke(args, config=config)  # type: ignore[arg-type]


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
