"""One argument schema however a tool declared it: JSON Schema, pydantic, `@tool` signature.

The same plans go to the validator against the same tool declared three ways;
the findings (category and argument) must agree, and the prompt, the plan
schema and the executor must use the schema as declared.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import pytest
from langchain_core.tools import BaseTool, StructuredTool, tool
from pydantic import BaseModel, ConfigDict, Field
from support import of_type, plan, step, write_cassette

from agentlab import AgentConfig, build_agent
from agentlab.config import Budgets
from agentlab.events import ToolCall
from agentlab.failures import FailureCategory as C
from agentlab.llm import ReplayChatModel
from agentlab.plan_checks import check_plan
from agentlab.plan_schema import plan_json_schema, step_schema
from agentlab.prompts import describe_tool
from agentlab.schemas import Plan
from agentlab.tools.arguments import ArgumentProblem, argument_schema
from agentlab.tools.registry import ToolRegistry
from agentlab.trace import MemoryTraceSink, Tracer

CONVERT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "value": {"type": "number", "description": "The quantity."},
        "unit": {"type": "string", "enum": ["km", "mi"]},
        "digits": {"type": "integer"},
        "options": {
            "type": "object",
            "properties": {"round": {"type": "boolean"}},
            "required": ["round"],
        },
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["value", "unit"],
    "additionalProperties": False,
}

calls: list[dict[str, Any]] = []


def _convert(**kwargs: Any) -> str:
    calls.append(kwargs)
    return "ok"


JSON_TOOL = StructuredTool.from_function(
    func=_convert, name="convert", description="Convert a distance.", args_schema=CONVERT_SCHEMA
)


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")
    round: bool


class ConvertArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: float = Field(strict=True)
    unit: Literal["km", "mi"]
    digits: int | None = Field(default=None, strict=True)
    options: Options | None = None
    tags: list[str] | None = None


PYDANTIC_TOOL = StructuredTool.from_function(
    func=_convert, name="convert", description="Convert a distance.", args_schema=ConvertArgs
)


@tool
def convert(
    value: float,
    unit: Literal["km", "mi"],
    digits: int | None = None,
    options: Options | None = None,
    tags: list[str] | None = None,
) -> str:
    """Convert a distance."""
    return "ok"


TOOLS = {"json": JSON_TOOL, "pydantic": PYDANTIC_TOOL, "signature": convert}

GOOD = {"value": 3.5, "unit": "km", "digits": 2, "options": {"round": True}, "tags": ["a"]}
MUTATIONS: dict[str, tuple[dict[str, Any], str]] = {
    "missing required": ({"unit": "km"}, "value"),
    "unexpected": ({**GOOD, "base": 10}, "base"),
    "wrong type": ({**GOOD, "value": "three"}, "value"),
    "enum": ({**GOOD, "unit": "furlong"}, "unit"),
    "nested object": ({**GOOD, "options": {"round": "yes please"}}, "options"),
    "nested missing": ({**GOOD, "options": {}}, "options"),
    "array item": ({**GOOD, "tags": ["a", 7]}, "tags"),
    "array itself": ({**GOOD, "tags": "a"}, "tags"),
}


def findings(tool: BaseTool, *steps: dict[str, Any]) -> list[tuple[C, str]]:
    checked = Plan.model_validate({"steps": list(steps), "answer": ""})
    found = check_plan(checked, ToolRegistry([tool]), Budgets())
    return [(f.category, f.detail) for f in found]


@pytest.mark.parametrize("kind", TOOLS)
def test_a_correct_plan_passes_whatever_the_declaration(kind: str) -> None:
    tool = TOOLS[kind]
    assert findings(tool, step("s1", "convert", **GOOD)) == []
    assert findings(tool, step("s1", "convert", value=1, unit="mi")) == []


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_each_mutation_gets_its_category_and_the_declarations_agree(mutation: str) -> None:
    args, arg = MUTATIONS[mutation]
    found = {kind: findings(tool, step("s1", "convert", **args)) for kind, tool in TOOLS.items()}
    for kind, got in found.items():
        assert [c for c, _ in got] == [C.PLANNING_INVALID_ARGUMENTS], (kind, got)
        assert f"'{arg}'" in got[0][1], (kind, got)
    kinds = {kind: got[0][1].split(":")[1].split("'")[0].strip() for kind, got in found.items()}
    assert len(set(kinds.values())) == 1, kinds  # "needs argument", "has no argument", ...


def test_an_unknown_tool_is_an_invalid_tool() -> None:
    [(category, _)] = findings(JSON_TOOL, step("s1", "konvert", value=1, unit="km"))
    assert category is C.PLANNING_INVALID_TOOL


def test_the_json_messages_name_what_is_wrong() -> None:
    [(_, missing)] = findings(JSON_TOOL, step("s1", "convert", unit="km"))
    assert missing == "step s1: convert needs argument 'value'"
    [(_, unexpected)] = findings(JSON_TOOL, step("s1", "convert", **{**GOOD, "base": 10}))
    assert "has no argument 'base'; it takes: value, unit, digits, options, tags" in unexpected
    [(_, enum)] = findings(JSON_TOOL, step("s1", "convert", **{**GOOD, "unit": "furlong"}))
    assert "'furlong' is not one of ['km', 'mi']" in enum
    [(_, item)] = findings(JSON_TOOL, step("s1", "convert", **{**GOOD, "tags": ["a", 7]}))
    assert "argument 'tags': at [1]: 7 is not of type 'string'" in item


@pytest.mark.parametrize("kind", TOOLS)
def test_a_reference_is_not_type_checked(kind: str) -> None:
    first = step("s0", "convert", value=1, unit="km")
    second = step("s1", "convert", value="${s0}", unit="mi", tags=["${s0}"])
    assert findings(TOOLS[kind], first, second) == []


def test_the_prompt_describes_the_json_tool_as_declared() -> None:
    line = describe_tool(JSON_TOOL)
    assert line == (
        '- convert(value: number, unit: "km"|"mi", digits?: integer, options?: object, '
        "tags?: list[string]): Convert a distance."
    )
    assert describe_tool(PYDANTIC_TOOL).startswith('- convert(value: number, unit: "km"|"mi"')


def test_the_plan_schema_uses_the_declared_argument_schema() -> None:
    args = step_schema(JSON_TOOL, {}, rationale=False)["properties"]["args"]
    assert args == argument_schema(JSON_TOOL).json
    assert args["properties"]["unit"]["enum"] == ["km", "mi"]
    schema = plan_json_schema([JSON_TOOL], max_steps=3)
    assert schema["properties"]["steps"]["items"]["anyOf"][0]["properties"]["args"] == args


def test_the_plan_schema_keeps_definitions_that_use_each_other_resolvable() -> None:
    import jsonschema

    schema = {
        "type": "object",
        "properties": {"size": {"$ref": "#/$defs/Size"}},
        "required": ["size"],
        "$defs": {"Size": {"$ref": "#/$defs/Count"}, "Count": {"type": "integer"}},
    }
    sized = StructuredTool.from_function(
        func=lambda **kw: "ok", name="sized", description="Sized.", args_schema=schema
    )
    plan_schema = plan_json_schema([sized, JSON_TOOL], max_steps=2)
    assert set(plan_schema["$defs"]) == {"sized__Size", "sized__Count"}
    assert plan_schema["$defs"]["sized__Size"] == {"$ref": "#/$defs/sized__Count"}
    validator = jsonschema.Draft202012Validator(plan_schema)
    good = {"approach": "", "steps": [{"id": "s1", "tool": "sized", "args": {"size": 3}}]}
    assert validator.is_valid(good | {"answer": "${s1}"})
    bad = {"approach": "", "steps": [{"id": "s1", "tool": "sized", "args": {"size": "3"}}]}
    assert not validator.is_valid(bad | {"answer": "${s1}"})


def test_a_tool_whose_refs_lead_outside_its_schema_is_decoded_with_open_arguments() -> None:
    # llama.cpp builds no grammar from a `$ref` to another document or to nowhere, and
    # refuses the whole plan schema: the other tools must still be planned with theirs.
    import llama_cpp

    def declared(name: str, ref: str) -> StructuredTool:
        schema = {"type": "object", "properties": {"x": {"$ref": ref}}}
        return StructuredTool.from_function(
            func=lambda **kw: "ok", name=name, description="d", args_schema=schema
        )

    tools = [declared("remote", "https://example.com/x.json"), declared("dangling", "#/nope")]
    schema = plan_json_schema([*tools, JSON_TOOL], max_steps=2)
    variants = schema["properties"]["steps"]["items"]["anyOf"]
    assert [v["properties"]["args"] for v in variants[:2]] == [{"type": "object"}] * 2
    assert variants[2]["properties"]["args"] == argument_schema(JSON_TOOL).json
    llama_cpp.LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)  # builds
    # The validator still holds them to their schema's names.
    assert argument_schema(tools[1]).problems({"y": 1}) == [ArgumentProblem("unexpected", "y")]


def test_an_open_json_schema_takes_any_argument() -> None:
    anything = StructuredTool.from_function(
        func=_convert, name="anything", description="x", args_schema={"type": "object"}
    )
    assert findings(anything, step("s1", "anything", x=1, y=[2])) == []


def test_the_executor_passes_json_tool_arguments_through_unchanged(tmp_path: Path) -> None:
    calls.clear()
    cassette = write_cassette(
        tmp_path / "c.jsonl", plan(step("s1", "convert", **GOOD), answer="${s1}")
    )
    sink = MemoryTraceSink()
    graph = build_agent(
        AgentConfig(),
        model=ReplayChatModel(path=str(cassette)),
        tools=[JSON_TOOL],
        trace=Tracer(sink),
    )
    state = graph.invoke({"task": "convert"})
    assert state["answer"] == "ok" and state["failures"] == []
    assert calls == [GOOD]
    [call] = of_type(sink.events, ToolCall)
    assert json.dumps(call.args, sort_keys=True) == json.dumps(GOOD, sort_keys=True)


def test_a_long_description_is_cut_in_the_prompt() -> None:
    chatty = StructuredTool.from_function(
        func=_convert, name="chatty", description="word " * 5000, args_schema={"type": "object"}
    )
    line = describe_tool(chatty)
    assert len(line) < 1100 and line.endswith("more chars]")


def test_a_result_deep_inside_a_json_argument_gets_the_type_declared_there() -> None:
    """A `${id}` inside an object or a list is read as JSON where the schema wants a number
    there (a pydantic model would convert it itself; a JSON-schema tool gets what it is given)."""
    schema = {
        "type": "object",
        "properties": {
            "point": {"$ref": "#/$defs/Point"},
            "sizes": {"type": "array", "items": {"type": "integer"}},
            "label": {"type": "string"},
        },
        "$defs": {"Point": {"type": "object", "properties": {"x": {"type": "number"}}}},
    }
    seen: list[dict[str, Any]] = []
    place = StructuredTool.from_function(
        func=lambda **kw: seen.append(kw) or "placed",
        name="place",
        description="Place a point.",
        args_schema=schema,
    )
    filled = {"point": {"x": "5", "y": "6"}, "sizes": ["5", 7, "8"], "label": "5"}
    planned = {"point": {"x": "${s1}", "y": "6"}, "sizes": ["${s1}", 7, "8"], "label": "${s1}"}
    assert argument_schema(place).read_results(filled, planned) == {
        "point": {"x": 5, "y": "6"},  # "y" is not declared and was written as text: kept
        "sizes": [5, 7, "8"],  # the literal "8" was the plan's own (the validator's concern)
        "label": "5",  # a string where a string is wanted stays one
    }


def test_references_through_chained_refs_get_the_type_their_definition_declares() -> None:
    # MCP servers and OpenAI-style declarations nest definitions: Size -> Count -> integer,
    # and a definition may use another through its own `$ref`.
    schema = {
        "type": "object",
        "properties": {"size": {"$ref": "#/$defs/Size"}, "box": {"$ref": "#/$defs/Box"}},
        "$defs": {
            "Size": {"$ref": "#/$defs/Count"},
            "Count": {"type": "integer"},
            "Box": {"type": "object", "properties": {"n": {"$ref": "#/$defs/Count"}}},
            "Loop": {"$ref": "#/$defs/Loop"},
        },
    }
    box = StructuredTool.from_function(
        func=lambda **kw: "boxed", name="box", description="Box.", args_schema=schema
    )
    arguments = argument_schema(box)
    filled = {"size": "15", "box": {"n": "4"}}
    planned = {"size": "${s1}", "box": {"n": "${s2}"}}
    assert arguments.read_results(filled, planned) == {"size": 15, "box": {"n": 4}}
    # A circle of `$ref`s ends; a `$ref` that points nowhere leaves the value as it is.
    looped = dict(schema, properties={"size": {"$ref": "#/$defs/Loop"}, "x": {"$ref": "#/x"}})
    looping = StructuredTool.from_function(
        func=lambda **kw: "ok", name="loop", description="Loop.", args_schema=looped
    )
    looping_arguments = argument_schema(looping)
    assert looping_arguments.read_results(
        {"size": "15", "x": "3"}, {"size": "${s1}", "x": "${s1}"}
    ) == {"size": "15", "x": "3"}
    # and checking arguments against it cannot recurse forever: names are still checked
    assert looping_arguments.problems({"size": 15, "nope": 1}) == [
        ArgumentProblem("unexpected", "nope")
    ]
    assert looping_arguments.problems({"x": 3}) == []
