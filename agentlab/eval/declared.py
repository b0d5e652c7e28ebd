"""Tools declared by JSON schema (BFCL / OpenAI function docs), as stub tools.

A declared function becomes an ordinary JSON-schema tool (a `StructuredTool`
whose `args_schema` is the declaration's parameters), so the validator checks
its calls through the same path as any JSON-schema or MCP tool
(`agentlab.tools.arguments`): wrong types, missing and unexpected arguments.
BFCL writes a few types of its own (`dict`, `float`, `tuple`, `any`); they are
read as JSON Schema's. The tool returns a short acknowledgement instead of doing
anything: the evaluation grades the call, not its effect.
"""

from __future__ import annotations

import json
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool

from agentlab.errors import ConfigError

BFCL_TYPES: dict[str, str | None] = {
    "dict": "object",
    "float": "number",
    "tuple": "array",
    "any": None,
}
"""BFCL's type names as JSON Schema's (None: any value)."""


def json_schema(spec: Any) -> dict[str, Any]:
    """A BFCL parameter declaration as JSON Schema (nested properties and items too)."""
    if not isinstance(spec, dict):
        return {}
    schema = {k: v for k, v in spec.items() if k not in ("type", "properties", "items")}
    kind = spec.get("type")
    if isinstance(kind, str):
        mapped = BFCL_TYPES.get(kind, kind)
        if mapped is not None:
            schema["type"] = mapped
    if isinstance(spec.get("properties"), dict):
        schema["properties"] = {k: json_schema(v) for k, v in spec["properties"].items()}
    if isinstance(spec.get("items"), dict):
        schema["items"] = json_schema(spec["items"])
    return schema


def parameters_schema(function: dict[str, Any]) -> dict[str, Any]:
    """The arguments of a declared function: an object of its parameters, nothing else."""
    schema = json_schema(function.get("parameters") or {})
    schema["type"] = "object"
    schema.setdefault("properties", {})
    schema["additionalProperties"] = False
    return schema


def _acknowledge(name: str) -> Any:
    def called(**kwargs: Any) -> str:
        given = {k: v for k, v in kwargs.items() if v is not None}
        return f"called {name} with {json.dumps(given, sort_keys=True, default=str)}"

    return called


def declared_tool(function: dict[str, Any]) -> BaseTool:
    """A stub tool for one JSON-schema function declaration."""
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"a declared function needs a name: {function!r}")
    return StructuredTool.from_function(
        func=_acknowledge(name),
        name=name,
        description=str(function.get("description") or name),
        args_schema=parameters_schema(function),
        # A declared function: its call is graded, not its effect (`tool_is_declared`).
        metadata={"declared": True},
    )
