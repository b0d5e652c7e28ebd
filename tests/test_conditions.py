"""Step conditions (`when`): the calculator's safe AST walk with comparisons and logic."""

from __future__ import annotations

import pytest

from agentlab import conditions
from agentlab.config import AgentConfig
from agentlab.prompts import CONTROL_FLOW_RULE, system_prompt
from agentlab.state import StepResult
from agentlab.tools import default_registry
from agentlab.tools.calculator import calculate


def result(step_id: str, output: str, status: str = "ok", data: object = None) -> StepResult:
    return StepResult(step_id=step_id, tool="t", args={}, status=status, output=output, data=data)  # type: ignore[arg-type]


RESULTS = {
    "s1": result("s1", "1290"),
    "s2": result("s2", "  "),
    "s3": result("s3", "search failed: offline", status="error"),
    "s4": result("s4", "none"),
    "s5": result("s5", "no results", data={"query": "q", "hits": []}),
    "s6": result("s6", "[3, 4]", data=[3, 4]),
}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("${s1} > 1000", True),
        ("${s1} * 2 <= 2000", False),
        ("1000 < ${s1} < 2000 and not empty(${s1})", True),
        ("empty(${s2}) and empty(${s3}) and empty(${s5})", True),
        ("empty(${s6}) or failed(${s1})", False),
        ("failed(${s3})", True),
        ('${s4} == "none"', True),
        ("${s6[1]} == 4", True),
        ("failed(${s3}) or ${s3} > 1", True),  # `or` stops before the failed value
    ],
)
def test_conditions_hold_as_written(condition: str, expected: bool) -> None:
    assert conditions.holds(condition, RESULTS) is expected


@pytest.mark.parametrize(
    ("condition", "problem"),
    [
        ("${s1} >", "does not parse"),
        ("__import__('os')", "unknown function '__import__'"),
        ("${s1}.bit_length() > 1", "calls functions by name only"),
        ("${s1}.real > 1", "Attribute is not allowed"),
        ("price > 3", "unknown name 'price'"),
        ("empty(3)", "empty takes one step's result"),
        ("[x for x in ${s6}]", "ListComp is not allowed"),
        ("lambda: 1", "Lambda is not allowed"),
    ],
)
def test_conditions_that_do_not_parse_are_refused_before_running(
    condition: str, problem: str
) -> None:
    with pytest.raises(conditions.ConditionError, match=problem):
        conditions.parse(condition)


@pytest.mark.parametrize(
    ("condition", "problem"),
    [
        ("${s4} > 3", "cannot compare 'none' with"),
        ("${s3} > 3", r"has no result to compare; ask failed\(\$\{s3\}\) first"),
        ("${s1} + 1", "must be true or false"),
        ("${s9} > 1", r"\$\{s9\} has not run"),
        ("${s1} ** 99999999 > 1", "too large"),
    ],
)
def test_conditions_that_cannot_be_evaluated_say_why(condition: str, problem: str) -> None:
    with pytest.raises(conditions.ConditionError, match=problem):
        conditions.holds(condition, RESULTS)


def test_the_calculator_aggregates_a_list() -> None:
    assert calculate("sum([709000, 291000])").value == "1000000"
    assert calculate("mean([1, 2])").value == "3/2"
    assert calculate("count([5, 6, 7]) + max([1, 9], 4)").value == "12"
    assert calculate("sum([])").value == "0"


def test_the_system_prompt_describes_control_flow_only_when_switched_on() -> None:
    tools = list(default_registry(["calculator"]))
    on, off = system_prompt(tools, control_flow=True), system_prompt(tools)
    assert CONTROL_FLOW_RULE in on and "for_each" not in off and '"when"' not in off
    assert '"for_each":[12,15,9]' in on and "sum(${s1})" in on
    assert AgentConfig().plan_control_flow is False
    assert AgentConfig().with_variant("control-flow").plan_control_flow is True
