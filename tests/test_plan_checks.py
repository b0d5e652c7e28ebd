"""The validator's static checks, one category each."""

from __future__ import annotations

import json

from agentlab.config import Budgets
from agentlab.failures import FailureCategory as C
from agentlab.plan_checks import check_plan
from agentlab.plan_schema import plan_model
from agentlab.schemas import Plan
from agentlab.tools import default_registry

TOOLS = default_registry(["calculator"])


def findings(*steps: dict[str, object], budgets: Budgets | None = None) -> list[tuple[str, str]]:
    plan = Plan.model_validate({"steps": list(steps)})
    return [(f.category.value, f.detail) for f in check_plan(plan, TOOLS, budgets or Budgets())]


def calc(id: str, expression: object) -> dict[str, object]:
    return {"id": id, "tool": "calculator", "args": {"expression": expression}}


def test_valid_plan_has_no_findings() -> None:
    assert findings(calc("s1", "17*23"), calc("s2", "${s1}+4")) == []


def test_bare_step_id_is_a_bad_reference_with_the_fix() -> None:
    [(category, detail)] = findings(calc("s1", "17*23"), calc("s2", "s1 + 4"))
    assert category == C.PLANNING_BAD_REFERENCE
    assert "write ${s1}" in detail


def test_references_to_missing_later_and_self() -> None:
    got = findings(calc("s1", "${s2}+1"), calc("s2", "${s9}*2"), calc("s3", "${s3}"))
    assert [c for c, _ in got] == [C.PLANNING_BAD_REFERENCE] * 3
    assert "has not run before it" in got[0][1]
    assert "refers to no step" in got[1][1]
    assert "has not run before it" in got[2][1]


def test_duplicate_ids() -> None:
    got = findings(calc("s1", "1"), calc("s1", "2"))
    assert got[0][0] == C.PLANNING_BAD_REFERENCE and "more than one step" in got[0][1]


def test_wrong_type_missing_and_unexpected_arguments() -> None:
    assert findings(calc("s1", 17)) == [
        (
            C.PLANNING_INVALID_ARGUMENTS,
            "step s1: calculator argument 'expression': Input should be a valid string",
        )
    ]
    got = findings({"id": "s1", "tool": "calculator", "args": {"expr": "1"}})
    assert sorted(d for _, d in got) == [
        "step s1: calculator has no argument 'expr'; it takes: expression",
        "step s1: calculator needs argument 'expression'",
    ]


def test_unknown_tool_names_the_inventory() -> None:
    [(category, detail)] = findings({"id": "s1", "tool": "python", "args": {"code": "1"}})
    assert category == C.PLANNING_INVALID_TOOL and "use one of: calculator" in detail


def test_plan_over_the_step_budget() -> None:
    got = findings(*(calc(f"s{i}", "1") for i in range(4)), budgets=Budgets(max_plan_steps=3))
    assert got == [
        (
            C.PLANNING_OVER_BUDGET,
            "the plan has 4 steps; at most 3 are allowed: combine or drop steps",
        )
    ]


def test_plan_schema_caps_the_steps_and_still_parses_a_longer_plan() -> None:
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    schema = plan_model(list(TOOLS), max_steps=3)
    assert schema.model_json_schema()["properties"]["steps"]["maxItems"] == 3
    # The cap reaches llama.cpp's grammar: a fourth step cannot be decoded.
    grammar = json_schema_to_gbnf(json.dumps(schema.model_json_schema()))
    steps_rule = next(line for line in grammar.splitlines() if line.startswith("steps ::="))
    assert steps_rule.count("steps-item") == 3
    # A backend that ignores the schema still gets its plan to the validator.
    plan = schema.model_validate({"steps": [calc(f"s{i}", "1") for i in range(4)]})
    assert isinstance(plan, Plan)
    found = check_plan(plan, TOOLS, Budgets(max_plan_steps=3))
    assert [f.category for f in found] == [C.PLANNING_OVER_BUDGET]
