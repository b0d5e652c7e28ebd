"""Structured-output parsing: one mechanical repair, else a clear malformed-output error."""

from __future__ import annotations

import pytest

from agentlab.llm.parsing import MalformedOutputError, parse_structured
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
