"""BFCL adapter: cases from the bfcl-eval package, AST grading, errors mapped onto the taxonomy."""

from __future__ import annotations

import copy
import sys
import types
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest

from agentlab.config import Budgets
from agentlab.eval.adapters.bfcl import (
    BfclResult,
    ast_check,
    bfcl_suite,
    grade_plan,
)
from agentlab.eval.declared import declared_tool
from agentlab.eval.suite import BfclCheck, Task
from agentlab.failures import FailureCategory
from agentlab.plan_checks import check_plan
from agentlab.schemas import Plan
from agentlab.tools.base import tool_is_declared
from agentlab.tools.registry import ToolRegistry

SIMPLE = bfcl_suite("simple_python")
MULTIPLE = bfcl_suite("multiple")


def test_cases_come_from_the_package() -> None:
    # 400 and 200 cases ship, all kept: declared functions are JSON-schema tools, so the 3
    # whose parameter is `_class` (no pydantic field name) are tools like the others.
    assert (len(SIMPLE.tasks), len(MULTIPLE.tasks)) == (400, 200)
    first = SIMPLE.tasks[0]
    assert first.id == "simple_python_0"
    assert first.prompt.startswith("Find the area of a triangle")
    assert first.tools == () and first.function_names == ("calculate_triangle_area",)
    assert len(MULTIPLE.tasks[0].functions) > 1


def truth_call(task: Task) -> dict[str, dict[str, Any]]:
    """The ground truth as one call: each parameter's first possible value ('' = leave it out)."""
    assert isinstance(task.check, BfclCheck)
    [answer] = task.check.ground_truth
    [(name, params)] = answer.items()
    return {
        name: {
            p: next(v for v in values if v != "")
            for p, values in params.items()
            if values != [""] and values[0] != ""
        }
    }


def as_plan(call: dict[str, dict[str, Any]]) -> dict[str, Any]:
    [(name, args)] = call.items()
    return {"steps": [{"id": "s1", "tool": name, "args": args}]}


def function_of(task: Task, name: str) -> dict[str, Any]:
    return next(f for f in task.functions if f["name"] == name)


def renamed(task: Task, call: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    [(name, args)] = call.items()
    return {name + "_v2": args}


def dropped_required(
    task: Task, call: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]] | None:
    [(name, args)] = call.items()
    required = function_of(task, name)["parameters"].get("required") or []
    if not required:
        return None
    return {name: {k: v for k, v in args.items() if k != required[0]}}


WRONG_TYPE = {str: 12345, int: "12345", float: "1.5", bool: "yes", list: "a list", dict: "a dict"}


def wrong_type(task: Task, call: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]] | None:
    [(name, args)] = call.items()
    properties = function_of(task, name)["parameters"]["properties"]
    for param, value in args.items():
        if properties[param].get("type") in ("any",) or type(value) not in WRONG_TYPE:
            continue
        return {name: {**args, param: WRONG_TYPE[type(value)]}}
    return None


def wrong_value(task: Task, call: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]] | None:
    [(name, args)] = call.items()
    for param, value in args.items():
        if type(value) is int:
            return {name: {**args, param: value + 7919}}
        if type(value) is str:
            return {name: {**args, param: value + " zzz"}}
    return None


def grade(
    task: Task, call: dict[str, dict[str, Any]] | None
) -> tuple[BfclResult, FailureCategory | None]:
    assert isinstance(task.check, BfclCheck)
    return grade_plan(task.check, task.functions, as_plan(call) if call else None)


FIFTY = SIMPLE.tasks[:50]


@pytest.mark.parametrize("task", FIFTY, ids=[t.id for t in FIFTY])
def test_ground_truth_passes_and_mutations_are_classified(task: Task) -> None:
    truth = truth_call(task)
    assert grade(task, truth) == (BfclResult(True), None)

    result, category = grade(task, renamed(task, truth))
    assert result.error_type == "simple_function_checker:wrong_func_name"
    assert category is FailureCategory.PLANNING_INVALID_TOOL

    dropped = dropped_required(task, truth)
    if dropped is not None:
        result, category = grade(task, dropped)
        assert result.error_type == "simple_function_checker:missing_required"
        assert category is FailureCategory.PLANNING_INVALID_ARGUMENTS

    mistyped = wrong_type(task, truth)
    if mistyped is not None:
        result, category = grade(task, mistyped)
        assert result.error_type.startswith("type_error")
        assert category is FailureCategory.PLANNING_INVALID_ARGUMENTS

    changed = wrong_value(task, truth)
    if changed is not None:
        result, category = grade(task, changed)
        assert result.error_type.startswith("value_error")
        assert category is FailureCategory.PLANNING_WRONG_ARGUMENT_VALUES


def test_the_fifty_cases_exercise_every_mutation() -> None:
    truths = [truth_call(t) for t in FIFTY]
    assert sum(dropped_required(t, c) is not None for t, c in zip(FIFTY, truths, strict=True)) >= 45
    assert sum(wrong_type(t, c) is not None for t, c in zip(FIFTY, truths, strict=True)) >= 45


def test_no_call_and_extra_calls_are_wrong_answers() -> None:
    task = SIMPLE.tasks[0]
    result, category = grade(task, None)
    assert result.error_type == "simple_function_checker:wrong_count"
    assert category is FailureCategory.GOAL_WRONG_ANSWER


def test_choosing_another_declared_function_is_a_wrong_answer_not_an_invalid_tool() -> None:
    task = MULTIPLE.tasks[0]
    truth = truth_call(task)
    other = next(f["name"] for f in task.functions if f["name"] not in truth)
    result, category = grade(task, {other: next(iter(truth.values()))})
    assert result.error_type == "simple_function_checker:wrong_func_name"
    assert category is FailureCategory.GOAL_WRONG_ANSWER


@pytest.fixture(scope="module")
def bfcl_checker() -> Iterator[Any]:
    """BFCL's own ast_checker, importable once its model registry (which pulls every
    provider SDK) is replaced by a stub: no provider renames functions here."""
    name = "bfcl_eval.constants.model_config"
    stub = types.ModuleType(name)
    stub.MODEL_CONFIG_MAPPING = defaultdict(lambda: types.SimpleNamespace(underscore_to_dot=False))  # type: ignore[attr-defined]
    saved = sys.modules.get(name)
    sys.modules[name] = stub
    try:
        from bfcl_eval.constants.enums import Language
        from bfcl_eval.eval_checker.ast_eval import ast_checker

        yield lambda functions, calls, answers, category: ast_checker.ast_checker(
            functions, calls, answers, Language.PYTHON, category, "stub"
        )
    finally:
        if saved is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = saved


def variants_of(task: Task) -> Iterator[dict[str, dict[str, Any]]]:
    truth = truth_call(task)
    yield truth
    for mutate in (renamed, dropped_required, wrong_type, wrong_value):
        call = mutate(task, copy.deepcopy(truth))
        if call is not None:
            yield call


def test_the_port_agrees_with_bfcl_on_every_case(bfcl_checker: Any) -> None:
    compared = 0
    for suite, category in ((SIMPLE, "simple_python"), (MULTIPLE, "multiple")):
        for task in suite.tasks:
            assert isinstance(task.check, BfclCheck)
            answers = [dict(a) for a in task.check.ground_truth]
            for call in variants_of(task):
                theirs = bfcl_checker(list(task.functions), [call], answers, category)
                ours = ast_check(list(task.functions), [call], answers)
                assert (ours.valid, ours.error_type if not ours.valid else "") == (
                    theirs["valid"],
                    theirs.get("error_type", "") if not theirs["valid"] else "",
                ), (task.id, call)
                compared += 1
    assert compared > 2500


def validator_categories(task: Task, call: dict[str, dict[str, Any]]) -> list[FailureCategory]:
    """What the validator finds in a call, against the task's declared functions as tools."""
    tools = ToolRegistry(declared_tool(f) for f in task.functions)
    checked = Plan.model_validate({**as_plan(call), "answer": ""})
    return [f.category for f in check_plan(checked, tools, Budgets())]


def first_options(value: Any) -> Any:
    """A nested dict of possible answers (`{"key": [options]}`) as one value: the first options."""
    if isinstance(value, dict):
        return {k: first_options(v[0]) for k, v in value.items() if v and v[0] != ""}
    if isinstance(value, list):
        return [first_options(v) for v in value]
    return value


def plain_truth(task: Task) -> dict[str, dict[str, Any]]:
    [(name, args)] = truth_call(task).items()
    return {name: {k: first_options(v) for k, v in args.items()}}


@pytest.mark.parametrize("suite", [SIMPLE, MULTIPLE], ids=["simple", "multiple"])
def test_declared_functions_are_json_schema_tools_the_ground_truth_passes(suite: Any) -> None:
    # Every case's ground truth is a valid call of its declared JSON-schema tools (but one,
    # whose possible answers leave out a parameter its declaration requires)...
    rejected = {t.id: validator_categories(t, plain_truth(t)) for t in suite.tasks}
    assert {k: v for k, v in rejected.items() if v} == (
        {"simple_python_200": [FailureCategory.PLANNING_INVALID_ARGUMENTS]}
        if suite is SIMPLE
        else {}
    )
    # ...and the validator names BFCL's type and missing-argument errors as it does.
    for task in suite.tasks[:50]:
        tool = declared_tool(task.functions[0])
        assert isinstance(tool.args_schema, dict) and tool_is_declared(tool)
        truth = plain_truth(task)
        for mutated in (wrong_type(task, truth), dropped_required(task, truth)):
            if mutated is not None:
                found = validator_categories(task, mutated)
                assert found == [FailureCategory.PLANNING_INVALID_ARGUMENTS], (task.id, mutated)


def test_a_fan_out_over_a_written_list_is_graded_as_one_call_per_item() -> None:
    from agentlab.eval.adapters.bfcl import plan_calls

    plan = {
        "steps": [
            {
                "id": "s1",
                "tool": "area",
                "args": {"side": "${n}", "unit": "side ${n} in m"},
                "for_each": [3, 4],
                "item": "n",
            },
            {"id": "s2", "tool": "area", "args": {"side": "${s1}"}, "for_each": "${s1}"},
        ]
    }
    assert plan_calls(plan) == [
        {"area": {"side": 3, "unit": "side 3 in m"}},
        {"area": {"side": 4, "unit": "side 4 in m"}},
        {"area": {"side": "${s1}"}},
    ]
