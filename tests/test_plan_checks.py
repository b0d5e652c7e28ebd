"""The validator's static checks, one category each."""

from __future__ import annotations

import json

from agentlab.config import Budgets
from agentlab.failures import FailureCategory as C
from agentlab.plan_checks import check_plan, without_code_echoes
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


def fan(id: str, over: object, expression: str = "${item}*2", **extra: object) -> dict[str, object]:
    return {**calc(id, expression), "for_each": over, **extra}


def test_a_fan_out_and_a_condition_over_earlier_steps_are_valid() -> None:
    assert (
        findings(
            fan("s1", [1, 2, 3]),
            fan("s2", "${s1}", "${n} + ${s1[0]}", item="n"),
            {**calc("s3", "sum(${s2})"), "when": "not empty(${s2}) and ${s1[2]} >= 6"},
        )
        == []
    )


def test_a_fan_out_over_an_unknown_or_later_list_source() -> None:
    got = findings(fan("s1", "${s2}"), calc("s2", "1"), fan("s3", "${s9}"))
    assert got == [
        (
            C.PLANNING_BAD_REFERENCE,
            "step s1: for_each ${s2} names a step that has not run before it; the list must "
            "come from an earlier step",
        ),
        (
            C.PLANNING_BAD_REFERENCE,
            "step s3: for_each ${s9} names no step of the plan; fan out over a list or an "
            "earlier step's result",
        ),
    ]


def test_a_fan_out_source_that_is_not_a_list_or_one_reference() -> None:
    [(category, detail)] = findings(calc("s1", "1"), fan("s2", "the cities of ${s1}"))
    assert category == C.PLANNING_BAD_REFERENCE
    assert "for_each must be a list or one ${id}" in detail


def test_an_item_name_may_not_shadow_a_step() -> None:
    [(category, detail)] = findings(calc("s1", "1"), fan("s2", [1], "${s1}*2", item="s1"))
    assert category == C.PLANNING_BAD_REFERENCE
    assert "item name 's1' shadows step s1" in detail


def test_conditions_that_do_not_parse_or_refer_to_later_steps() -> None:
    got = findings(
        {**calc("s1", "1"), "when": "${s1} >"},
        {**calc("s2", "2"), "when": "empty(${s3})"},
        {**calc("s3", "3"), "when": "__import__('os')"},
        {**calc("s4", "4"), "when": "empty(${s9}) or ${s1}.real"},
    )
    assert [c for c, _ in got] == [
        C.PLANNING_BAD_REFERENCE,  # s1's condition refers to itself
        C.PLANNING_INVALID_ARGUMENTS,
        C.PLANNING_BAD_REFERENCE,
        C.PLANNING_INVALID_ARGUMENTS,
        C.PLANNING_BAD_REFERENCE,
        C.PLANNING_INVALID_ARGUMENTS,
    ]
    details = [d for _, d in got]
    assert "condition '${s1} >' does not parse" in details[1]
    assert details[2] == (
        "step s2: its condition refers to ${s3}, a step that has not run before it"
    )
    assert "unknown function '__import__'" in details[3]
    assert details[4] == "step s4: its condition refers to ${s9}, which is no step of the plan"
    assert "Attribute is not allowed" in details[5]


def test_a_fan_out_over_the_budget() -> None:
    budgets = Budgets(max_plan_steps=4)
    [(category, detail)] = findings(
        fan("s1", [1, 2, 3, 4]), calc("s2", "sum(${s1})"), budgets=budgets
    )
    assert category == C.PLANNING_OVER_BUDGET
    assert detail.startswith("the plan makes 5 tool calls (a for_each counts each item)")
    assert findings(fan("s1", [1, 2, 3]), calc("s2", "sum(${s1})"), budgets=budgets) == []


def test_arguments_are_checked_per_item_of_a_written_list() -> None:
    [(category, detail)] = findings(
        {**fan("s1", ["a", "b"]), "args": {"expression": {"nested": "${item}"}}}
    )
    assert category == C.PLANNING_INVALID_ARGUMENTS
    assert detail.startswith('for item 0 ("a"): step s1: calculator argument')


def test_a_number_item_where_text_is_wanted_is_its_text() -> None:
    assert findings(fan("s1", [1, 2.5], "${item}")) == []


def test_an_index_past_the_end_of_a_written_fan_out() -> None:
    [(category, detail)] = findings(fan("s1", [1, 2]), calc("s2", "${s1[2]} + 1"))
    assert category == C.PLANNING_BAD_REFERENCE
    assert detail == "step s2: ${s1[2]} is past the end of s1's 2 items"


def test_the_item_name_outside_a_fan_out_is_no_step() -> None:
    [(category, detail)] = findings(calc("s1", "${item} + 1"))
    assert (category, detail) == (
        C.PLANNING_BAD_REFERENCE,
        "step s1: ${item} refers to no step of the plan",
    )


def test_the_plan_schema_offers_control_flow_only_when_switched_on() -> None:
    on = plan_model(list(TOOLS), max_steps=5, control_flow=True).model_json_schema()
    off = plan_model(list(TOOLS), max_steps=5).model_json_schema()
    [variant_on] = on["properties"]["steps"]["items"]["anyOf"]
    [variant_off] = off["properties"]["steps"]["items"]["anyOf"]
    assert set(variant_on["properties"]) - set(variant_off["properties"]) == {
        "for_each",
        "item",
        "when",
    }
    # Optional: a plain step is no longer to write.
    assert variant_on["required"] == variant_off["required"] == ["id", "tool", "args"]
    assert variant_on["properties"]["for_each"]["anyOf"][0]["maxItems"] == 5


def test_a_steps_code_in_an_argument_is_answer_only_not_a_bare_id() -> None:
    """Seen on HumanEval/48: the embedded model passed `${s1.code}` to a second python step
    and was told, four times, that it wrote a bare s1."""
    tools = default_registry(["python"])
    code = "def is_palindrome(text):\n    return text == text[::-1]"
    plan = Plan.model_validate(
        {
            "steps": [
                {"id": "s1", "tool": "python", "args": {"code": code}},
                {"id": "s2", "tool": "python", "args": {"code": "answer = '${s1.code}'"}},
            ],
            "answer": "${s2.code}",
        }
    )
    [finding] = check_plan(plan, tools, Budgets())
    assert finding.category == C.PLANNING_BAD_REFERENCE
    assert "uses ${s1.code}, which only the answer may use" in finding.detail
    assert "set the answer to ${s1.code}" in finding.detail


def test_steps_that_echo_another_steps_code_are_left_out_of_a_code_plan() -> None:
    code = "def f(x):\n    return x + 1"
    plan = Plan.model_validate(
        {
            "steps": [
                {"id": "s1", "tool": "python", "args": {"code": code}},
                {"id": "s2", "tool": "python", "args": {"code": "return ${s1.code}"}},
                {"id": "s3", "tool": "python", "args": {"code": "print(${s2.code})"}},
            ],
            "answer": "${s3.code}",
        }
    )
    kept, findings = without_code_echoes(plan)
    assert [s.id for s in kept.steps] == ["s1"] and kept.steps[0].args == {"code": code}
    assert kept.answer == "${s1.code}"
    assert [(f.category, f.step_id) for f in findings] == [
        (C.PLANNING_BAD_REFERENCE, "s2"),
        (C.PLANNING_BAD_REFERENCE, "s3"),
    ]
    assert all("left out" in f.detail and "step s1's code" in f.detail for f in findings)
    # A plan without echoes is returned as it is; a step's `${s1}` (its output) is no echo.
    clean = Plan.model_validate(
        {"steps": [calc("s1", "2+2"), calc("s2", "${s1}*3")], "answer": "${s2}"}
    )
    assert without_code_echoes(clean) == (clean, [])
