"""BFCL (Berkeley Function Calling Leaderboard) cases as a suite, and its AST grading.

The cases and possible answers come from the `bfcl-eval` package's data files,
located through its installed distribution (never copied, never imported: its
dependency tree is large, so install it with `pip install --no-deps bfcl-eval`).

Grading ports BFCL's AST checker for Python (`simple_function_checker`,
`multiple_function_checker`) with its error keys, applied to the agent's final
plan: each step is one function call. Its error keys map onto the taxonomy:

| BFCL error | category |
|---|---|
| wrong_func_name (not a declared function) | planning.invalid_tool |
| wrong_func_name (another declared function) | goal.wrong_answer |
| missing_required, unexpected_param, type_error:* | planning.invalid_arguments |
| value_error:*, missing_optional | planning.wrong_argument_values |
| wrong_count (no call, or several) | goal.wrong_answer |

Every case is kept: the declared functions are JSON-schema tools
(`agentlab.eval.declared`), so a parameter named `_class` is as good as any.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from agentlab.errors import ConfigError
from agentlab.eval.suite import BfclCheck, Suite, Task
from agentlab.failures import FailureCategory
from agentlab.fan_out import bind_item
from agentlab.jsonl import numbered_lines
from agentlab.schemas import DEFAULT_ITEM

DISTRIBUTION = "bfcl-eval"
DATA_DIR = "bfcl_eval/data"
VERSION_PREFIX = "BFCL_v4"
CATEGORIES = ("simple_python", "multiple")
INSTALL_HINT = (
    "BFCL cases come from the bfcl-eval package: pip install --no-deps bfcl-eval "
    "(agentlab reads its data files only, so its own dependencies are not needed)"
)

PYTHON_TYPES: dict[str, type] = {
    "string": str,
    "integer": int,
    "float": float,
    "boolean": bool,
    "array": list,
    "tuple": list,
    "dict": dict,
    "any": str,
}
NESTED_TYPES = ("array", "tuple")

Call = dict[str, dict[str, Any]]
"""One function call as BFCL writes it: `{name: {param: value}}`."""


@dataclass(frozen=True, slots=True)
class BfclResult:
    """BFCL's verdict on a model's calls: valid, or an error key and message."""

    valid: bool
    error_type: str = ""
    error: str = ""


def category_of(result: BfclResult, *, declared: set[str], called: list[str]) -> FailureCategory:
    """The taxonomy category for a BFCL error."""
    kind = result.error_type
    if kind.endswith("wrong_func_name"):
        known = all(name in declared for name in called)
        return FailureCategory.GOAL_WRONG_ANSWER if known else FailureCategory.PLANNING_INVALID_TOOL
    if kind.endswith(("missing_required", "unexpected_param")) or kind.startswith("type_error"):
        return FailureCategory.PLANNING_INVALID_ARGUMENTS
    if kind.startswith("value_error") or kind.endswith("missing_optional"):
        return FailureCategory.PLANNING_WRONG_ARGUMENT_VALUES
    return FailureCategory.GOAL_WRONG_ANSWER


# --- the AST checker, ported from bfcl_eval/eval_checker/ast_eval/ast_checker.py (Python
# only). The order of checks and the error keys follow the original, quirks included
# (tests/test_eval_bfcl.py compares the two on every case); only the shapes are typed.

_INVALID_TYPE = "Incorrect type for parameter {param!r}. Expected type {kind}, got {got}. Parameter value: {value!r}."
_INVALID_VALUE = "Invalid value for parameter {param!r}: {value!r}. Expected one of {possible}."


def _standardize(text: str) -> str:
    """Spaces and ,./-_*^ dropped, lower case, single quotes as double (BFCL's leniency)."""
    return re.sub(r"[ \,\.\/\-\_\*\^]", "", text).lower().replace("'", '"')


def _std(value: Any) -> Any:
    return _standardize(value) if isinstance(value, str) else value


def _possible_type(possible: list[Any]) -> type | None:
    for answer in possible:
        if answer != "":
            return type(answer)
    return None


@dataclass(frozen=True, slots=True)
class _TypeResult:
    valid: bool
    is_variable: bool = False
    error_type: str = "type_error:simple"


def _type_check(
    value: Any, possible: list[Any], expected: type, nested: type | None
) -> _TypeResult:
    """BFCL's `type_checker`: a value of the possible answers' type counts as a variable."""
    possible_type = _possible_type(possible)
    is_variable = possible_type is not None and possible_type is not expected
    error_type = "type_error:simple"
    if type(value) is expected:
        if nested is None:
            return _TypeResult(True, is_variable)
        for option in possible:
            items_ok = not isinstance(option, list) or all(
                _type_check(item, option, nested, None).valid for item in cast(list[Any], value)
            )
            if items_ok:
                return _TypeResult(True, is_variable)
        error_type = "type_error:nested"
    if possible_type is not None and type(value) is possible_type:
        return _TypeResult(error_type != "type_error:nested", True, error_type)
    return _TypeResult(False, False, error_type)


def _dict_check(value: dict[str, Any], possible: list[Any]) -> BfclResult:
    result = BfclResult(False, "dict_checker:unclear")
    for option in possible:
        if option == "":
            continue
        result, ok = BfclResult(False, "dict_checker:unclear"), True
        for key, item in value.items():
            if key not in option:
                result, ok = (
                    BfclResult(
                        False, "value_error:dict_key", f"Unexpected dict key parameter: {key!r}."
                    ),
                    False,
                )
                break
            if _std(item) not in [_std(p) for p in option[key]]:
                result, ok = (
                    BfclResult(
                        False,
                        "value_error:dict_value",
                        _INVALID_VALUE.format(param=key, value=item, possible=option[key]),
                    ),
                    False,
                )
                break
        for key, answers in option.items():
            if key not in value and "" not in answers:
                result, ok = (
                    BfclResult(
                        False, "value_error:dict_key", f"Missing dict key parameter: {key!r}."
                    ),
                    False,
                )
                break
        if ok:
            return BfclResult(True)
    return result


def _list_dict_check(value: list[Any], possible: list[Any]) -> BfclResult:
    result = BfclResult(False, "list_dict_checker:unclear")
    for option in possible:
        if len(value) != len(option):
            result = BfclResult(
                False, "value_error:list_dict_count", "Wrong number of dictionaries in the list."
            )
            continue
        for item, expected in zip(value, option, strict=True):
            result = _dict_check(item, [expected])
            if not result.valid:
                break
        else:
            return BfclResult(True)
    return result


def _param_result(param: str, value: Any, spec: dict[str, Any], possible: list[Any]) -> BfclResult:
    kind = spec.get("type", "any")
    expected = PYTHON_TYPES[kind]
    nested = PYTHON_TYPES[spec["items"]["type"]] if kind in NESTED_TYPES else None
    if kind == "tuple" and type(value) is tuple:
        value = list(value)
    if kind == "float" and type(value) is int:
        value = float(value)
    typed = _type_check(value, possible, expected, nested)
    if not typed.valid:
        message = _INVALID_TYPE.format(
            param=param, kind=kind, got=type(value).__name__, value=value
        )
        return BfclResult(False, typed.error_type, message)
    if not typed.is_variable:
        if expected is dict:
            return _dict_check(value, possible)
        if expected is list and nested is dict:
            return _list_dict_check(value, possible)
        if expected is str:
            if _standardize(value) in [_standardize(p) for p in possible if isinstance(p, str)]:
                return BfclResult(True)
            return BfclResult(
                False,
                "value_error:string",
                _INVALID_VALUE.format(param=param, value=value, possible=possible),
            )
        if expected is list:
            if [_std(v) for v in value] in [[_std(p) for p in option] for option in possible]:
                return BfclResult(True)
            return BfclResult(
                False,
                "value_error:list/tuple",
                _INVALID_VALUE.format(param=param, value=value, possible=possible),
            )
    if value not in possible:
        return BfclResult(
            False,
            "value_error:others",
            _INVALID_VALUE.format(param=param, value=value, possible=possible),
        )
    return BfclResult(True)


def simple_function_check(function: dict[str, Any], call: Call, answer: Call) -> BfclResult:
    """BFCL's `simple_function_checker` for Python."""
    possible = next(iter(answer.values()))
    name = function["name"]
    properties: dict[str, Any] = function["parameters"]["properties"]
    required: list[str] = function["parameters"].get("required", [])
    if name not in call:
        return BfclResult(
            False,
            "simple_function_checker:wrong_func_name",
            f"Function name {name!r} not found in model output.",
        )
    params = call[name]
    for param in required:
        if param not in params:
            return BfclResult(
                False,
                "simple_function_checker:missing_required",
                f"Missing required parameter: {param!r}.",
            )
    for param, value in params.items():
        if param not in properties or param not in possible:
            return BfclResult(
                False,
                "simple_function_checker:unexpected_param",
                f"Unexpected parameter: {param!r}.",
            )
        result = _param_result(param, value, properties[param], possible[param])
        if not result.valid:
            return result
    for param, answers in possible.items():
        if param not in params and "" not in answers:
            return BfclResult(
                False,
                "simple_function_checker:missing_optional",
                f"Optional parameter {param!r} not provided and not marked as optional.",
            )
    return BfclResult(True)


def ast_check(
    functions: list[dict[str, Any]], calls: list[Call], answers: list[Call]
) -> BfclResult:
    """BFCL's AST check for the `simple_*` and `multiple` categories."""
    prefix = "multiple_function_checker" if len(functions) > 1 else "simple_function_checker"
    if len(calls) != len(answers):
        return BfclResult(False, f"{prefix}:wrong_count", "Wrong number of functions.")
    expected_name = next(iter(answers[0]))
    function = next((f for f in functions if f["name"] == expected_name), None)
    if function is None:
        raise ConfigError(f"BFCL case declares no function {expected_name!r}")
    return simple_function_check(function, calls[0], answers[0])


def plan_calls(plan: dict[str, Any] | None) -> list[Call]:
    """A plan's steps as BFCL calls; a fan-out over a written list is one call per item."""
    calls: list[Call] = []
    for s in (plan or {}).get("steps") or []:
        args = dict(s.get("args") or {})
        items = s.get("for_each")
        if not isinstance(items, list):
            calls.append({str(s.get("tool")): args})
            continue
        name = str(s.get("item") or DEFAULT_ITEM)
        calls.extend({str(s.get("tool")): bind_item(args, name, item)} for item in items)
    return calls


def grade_plan(
    check: BfclCheck, functions: tuple[dict[str, Any], ...], plan: dict[str, Any] | None
) -> tuple[BfclResult, FailureCategory | None]:
    """BFCL's verdict on a plan, and the category of its error."""
    calls = plan_calls(plan)
    result = ast_check(list(functions), calls, [dict(a) for a in check.ground_truth])
    if result.valid:
        return result, None
    declared = {str(f["name"]) for f in functions}
    return result, category_of(result, declared=declared, called=[next(iter(c)) for c in calls])


# --- the cases, from the installed package's data files


def data_file(name: str) -> Path:
    """A data file of the installed bfcl-eval package."""
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise ConfigError(INSTALL_HINT) from None
    path = Path(str(dist.locate_file(f"{DATA_DIR}/{name}")))
    if not path.is_file():
        raise ConfigError(f"bfcl-eval {dist.version} has no data file {name}; {INSTALL_HINT}")
    return path


def _read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for _, line in numbered_lines(path.read_text(encoding="utf-8"))]


def _prompt(question: list[list[dict[str, str]]]) -> str:
    turn = question[0]
    return "\n".join(m["content"] for m in turn if m.get("role") == "user")


def bfcl_suite(category: str = "simple_python", *, limit: int | None = None) -> Suite:
    """BFCL v4 cases of one category as a suite; the declared functions are the tools."""
    if category not in CATEGORIES:
        raise ConfigError(
            f"BFCL category {category!r} is not supported; use {', '.join(CATEGORIES)}"
        )
    cases = _read_lines(data_file(f"{VERSION_PREFIX}_{category}.json"))
    answers = {
        a["id"]: a["ground_truth"]
        for a in _read_lines(data_file(f"possible_answer/{VERSION_PREFIX}_{category}.json"))
    }
    tasks = [
        Task(
            id=case["id"],
            prompt=_prompt(case["question"]),
            tools=(),
            functions=tuple(case["function"]),
            check=BfclCheck(ground_truth=tuple(answers[case["id"]]), category=category),
            ref_steps=len(answers[case["id"]]),
            tags=("bfcl", category),
        )
        for case in cases
    ][:limit]
    return Suite(name=f"bfcl-{category}", tasks=tuple(tasks))
