"""Structured-output parsing: one mechanical repair, else a clear malformed-output error."""

from __future__ import annotations

import pytest

from agentlab.llm.parsing import MalformedOutputError, nesting_depth, parse_structured
from agentlab.schemas import Plan, Reflection

PLAN = '{"steps": [{"id": "s1", "tool": "calculator", "args": {"expression": "1+1"}}]}'


@pytest.mark.parametrize(
    "reply",
    [
        PLAN,
        f"```json\n{PLAN}\n```",
        f"Here is the plan:\n{PLAN}\nHope this helps!",
        '[{"id": "s1", "tool": "calculator", "args": {"expression": "1+1"}}]',
        PLAN.replace("1+1", "1+1\n"),  # a raw newline inside a string (strict=False)
    ],
)
def test_mechanical_repairs(reply: str) -> None:
    assert parse_structured(reply, Plan).steps[0].args["expression"].strip() == "1+1"


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        ("the answer is 395", "not valid JSON"),
        ('{"decision": "maybe"}', "decision"),
        ('{"answer": "395"}', "decision: Field required"),
    ],
)
def test_unrepairable_replies(reply: str, problem: str) -> None:
    with pytest.raises(MalformedOutputError) as error:
        parse_structured(reply, Reflection)
    assert problem in error.value.message


@pytest.mark.parametrize(
    "reply",
    [
        "[" * 100_000,
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 100_000 + "1" + "}" * 100_000,
        'Sure: {"steps": [' + "{" * 50_000,
        '{"steps": [{"id": "s1", "tool": "t", "args": {"x": ' + "[" * 65 + "]" * 65 + "}}]}",
    ],
)
def test_deeply_nested_replies_are_malformed_not_a_crash(reply: str) -> None:
    with pytest.raises(MalformedOutputError) as info:
        parse_structured(reply, Plan)
    assert info.value.message == "the JSON is nested more than 64 levels deep; write a flat object"


def test_nesting_inside_strings_does_not_count() -> None:
    brackets = "[" * 1000 + '\\"' + "{" * 1000
    reply = '{"steps": [{"id": "s1", "tool": "t", "args": {"x": "' + brackets + '"}}]}'
    assert parse_structured(reply, Plan).steps[0].args["x"].startswith("[[[")
    assert nesting_depth(reply) == 4
    assert nesting_depth("[" * 64 + "]" * 64) == 64
