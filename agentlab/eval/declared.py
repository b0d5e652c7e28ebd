"""Tools declared by JSON schema (BFCL / OpenAI function docs), as stub tools.

A declared tool validates its arguments with a strict pydantic model built from
the schema (so the validator sees wrong types, missing and unexpected
arguments) and returns a short acknowledgement instead of doing anything: the
evaluation grades the call, not its effect.
"""

from __future__ import annotations

import json
from typing import Any

from langchain_core.tools import BaseTool
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    create_model,
)

from agentlab.errors import ConfigError

_SCALARS: dict[str, Any] = {
    "string": StrictStr,
    "integer": StrictInt,
    # Python converts an int where a float is declared (BFCL accepts it too).
    "float": StrictFloat | StrictInt,
    "number": StrictFloat | StrictInt,
    "boolean": StrictBool,
    "any": Any,
}


class _StrictArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _python_type(spec: dict[str, Any]) -> Any:
    kind = spec.get("type", "any")
    if kind in _SCALARS:
        return _SCALARS[kind]
    if kind in ("array", "tuple"):
        items = spec.get("items")
        return list[_python_type(items)] if isinstance(items, dict) else list[Any]  # type: ignore[misc]
    if kind in ("dict", "object"):
        return dict[str, Any]
    return Any


def usable_name(param: str) -> bool:
    """Whether a parameter name can be a pydantic field (no leading underscore, no clash)."""
    return param.isidentifier() and not param.startswith("_") and not hasattr(BaseModel, param)


def declarable(function: dict[str, Any]) -> bool:
    """Whether every parameter of a declared function can become a field of its schema."""
    properties = (function.get("parameters") or {}).get("properties") or {}
    return all(usable_name(p) for p in properties)


def declared_args_model(function: dict[str, Any]) -> type[BaseModel]:
    """A strict pydantic model for a declared function's parameters."""
    name = str(function.get("name") or "")
    params = function.get("parameters") or {}
    required = set(params.get("required") or [])
    fields: dict[str, Any] = {}
    for param, spec in (params.get("properties") or {}).items():
        if not usable_name(param):
            raise ConfigError(f"function {name!r}: parameter name {param!r} is not usable")
        annotation = _python_type(spec)
        description = str(spec.get("description", ""))
        if param in required:
            fields[param] = (annotation, Field(description=description))
        else:
            fields[param] = (annotation | None, Field(default=None, description=description))
    model_name = "".join(part.title() for part in name.replace(".", "_").split("_")) + "Args"
    return create_model(model_name or "Args", __base__=_StrictArgs, **fields)


class DeclaredTool(BaseTool):
    """A stub tool: validates its arguments and echoes the call."""

    declared: bool = True
    """A declared function: its call is graded, not its effect (`tool_is_declared`)."""

    def _run(self, **kwargs: Any) -> str:
        given = {k: v for k, v in kwargs.items() if v is not None and k != "run_manager"}
        return f"called {self.name} with {json.dumps(given, sort_keys=True, default=str)}"


def declared_tool(function: dict[str, Any]) -> BaseTool:
    """A stub tool for one JSON-schema function declaration."""
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"a declared function needs a name: {function!r}")
    return DeclaredTool(
        name=name,
        description=str(function.get("description") or name),
        args_schema=declared_args_model(function),
    )
