"""The JSON schema a model decodes a plan (or a `react` action) with: a union over the inventory.

Each step's `tool` is a constant and its `args` that tool's own argument schema
(extra keys refused), so a backend that enforces schemas (llama.cpp's grammar,
OpenAI's `json_schema`) cannot produce an unknown tool or argument name; the
step budget is the array's `maxItems`, and `why` is only asked for when the
agent wants explanations. Parsing stays lenient (`agentlab.schemas.Plan`), so a
backend that does not enforce still reaches the validator, which checks
everything.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TypeVar

from langchain_core.tools import BaseTool
from pydantic import BaseModel, ConfigDict

from agentlab.schemas import STEP_ID_PATTERN, Plan
from agentlab.tools.arguments import args_json_schema

M = TypeVar("M", bound=BaseModel)

OPEN_ARGS: dict[str, Any] = {"type": "object"}
"""Arguments of a tool whose schema cannot be read: any object."""


def tool_args_schema(tool: BaseTool, defs: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema of `tool`'s arguments (`ArgumentSchema`: the one the validator checks),
    extra keys refused; nested definitions move
    into `defs` under names prefixed with the tool's, so tools cannot clash."""
    try:
        schema = args_json_schema(tool)
    except Exception:  # a tool whose schema pydantic cannot render
        return dict(OPEN_ARGS)
    prefix = f"{tool.name}__"
    try:
        # Renamed everywhere, definitions included: one definition may use another.
        text = json.dumps(schema).replace('"#/$defs/', f'"#/$defs/{prefix}')
        schema = dict(json.loads(text))
        own = {prefix + name: d for name, d in (schema.pop("$defs", None) or {}).items()}
        refs = set(_refs(schema) + _refs(own))
    except (RecursionError, ValueError, TypeError, AttributeError):  # nested past reason
        return dict(OPEN_ARGS)
    if not refs <= {f"#/$defs/{name}" for name in own}:
        # A `$ref` to another document or to nowhere: no grammar can be built from it
        # (llama.cpp refuses the whole plan schema). Decoding leaves the arguments open;
        # the validator still checks them against the tool's schema.
        return dict(OPEN_ARGS)
    defs.update(own)
    for key in ("title", "description", "$schema", "$id"):
        schema.pop(key, None)
    if schema.get("type") == "object":
        schema.setdefault("additionalProperties", False)
    return schema


def _refs(value: Any) -> list[str]:
    """Every `$ref` in a JSON value."""
    if isinstance(value, dict):
        found = [value["$ref"]] if isinstance(value.get("$ref"), str) else []
        return found + [ref for v in value.values() for ref in _refs(v)]
    if isinstance(value, list):
        return [ref for v in value for ref in _refs(v)]
    return []


CONDITION_CHARS = 200
"""Room for a step's `when` condition."""

LIST_SOURCE_PATTERN = r"^[$][{][A-Za-z_][A-Za-z0-9_-]{0,31}[}]$"
"""A fan-out's list taken from an earlier step: one `${id}`."""


def control_flow_properties(max_items: int) -> dict[str, Any]:
    """The optional fields of a step with control flow: `for_each` (a list of at most
    `max_items` strings or numbers, or one `${id}`), the `item` name, and `when`."""
    return {
        "for_each": {
            "anyOf": [
                {"type": "array", "items": {"type": ["string", "number"]}, "maxItems": max_items},
                {"type": "string", "pattern": LIST_SOURCE_PATTERN},
            ]
        },
        "item": {"type": "string", "pattern": STEP_ID_PATTERN},
        "when": {"type": "string", "maxLength": CONDITION_CHARS},
    }


def step_schema(
    tool: BaseTool,
    defs: dict[str, Any],
    *,
    rationale: bool,
    with_id: bool = True,
    control_flow: int = 0,
) -> dict[str, Any]:
    """One step calling `tool`: `{"id", "tool": <const>, "args": <its schema>[, "why"]}`,
    and with `control_flow` (the most items a fan-out may have) the optional `for_each`,
    `item` and `when`: not required, so a plain step is no longer to write."""
    properties: dict[str, Any] = {}
    if with_id:
        properties["id"] = {"type": "string", "pattern": STEP_ID_PATTERN}
    properties["tool"] = {"const": tool.name}
    properties["args"] = tool_args_schema(tool, defs)
    if rationale:
        properties["why"] = {"type": "string"}
    required = list(properties)
    if control_flow:
        properties |= control_flow_properties(control_flow)
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


APPROACH_CHARS = 200
"""Room for the plan's approach: one sentence, not an essay."""


def plan_json_schema(
    tools: Sequence[BaseTool],
    *,
    max_steps: int,
    rationale: bool = False,
    approach: bool = True,
    control_flow: bool = False,
) -> dict[str, Any]:
    """The plan as the model decodes it: with `approach`, one sentence on what the answer
    is computed from (decoded first, so the steps follow a whole thought); at most
    `max_steps` steps, each a call of one of `tools` with that tool's arguments (and with
    `control_flow`, an optional fan-out and condition); then the answer template."""
    defs: dict[str, Any] = {}
    most_items = max_steps if control_flow else 0
    variants = [step_schema(t, defs, rationale=rationale, control_flow=most_items) for t in tools]
    items: dict[str, Any] = {"anyOf": variants} if variants else {"not": {}}
    properties: dict[str, Any] = {}
    if approach:
        properties["approach"] = {"type": "string", "maxLength": APPROACH_CHARS}
    properties["steps"] = {"type": "array", "items": items, "maxItems": max_steps}
    properties["answer"] = {"type": "string"}
    schema: dict[str, Any] = {
        "title": "Plan",
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
    if not variants:
        schema["properties"]["steps"] = {"type": "array", "maxItems": 0}
    if defs:
        schema["$defs"] = defs
    return schema


def schema_model(base: type[M], schema: dict[str, Any]) -> type[M]:
    """A subclass of `base` that parses like it but presents `schema` as its JSON schema
    (what `response_format` and the local grammar are built from)."""
    frozen = json.dumps(schema)

    def present(generated: dict[str, Any]) -> None:
        generated.clear()
        generated.update(json.loads(frozen))

    title = str(schema.get("title") or base.__name__)
    config = ConfigDict(**{**base.model_config, "title": title, "json_schema_extra": present})
    return type(base.__name__, (base,), {"model_config": config, "__module__": base.__module__})


def plan_model(
    tools: Sequence[BaseTool],
    *,
    max_steps: int,
    rationale: bool = False,
    approach: bool = True,
    control_flow: bool = False,
) -> type[Plan]:
    """`Plan`, presenting the inventory's union schema (see the module docstring)."""
    schema = plan_json_schema(
        tools,
        max_steps=max_steps,
        rationale=rationale,
        approach=approach,
        control_flow=control_flow,
    )
    return schema_model(Plan, schema)
