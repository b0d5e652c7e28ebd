"""Step conditions (`when`): comparisons and logic over earlier results, never `eval`.

A condition is an expression over `${id}` references, evaluated by the
calculator's whitelisted AST walk extended with comparisons (`==`, `!=`, `<`,
`<=`, `>`, `>=`), `and`, `or`, `not`, strings, and two questions about a
result: `empty(${s1})` (the step gave nothing: it failed or was skipped, its
text is blank, or its list or search hits are empty) and `failed(${s1})` (it
did not run to a result). A reference in arithmetic or a comparison is its
result's number when the text is one, else the text. `parse` checks a
condition before anything runs; `holds` evaluates it once its steps are done.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from agentlab.errors import ToolError
from agentlab.fan_out import element_text, list_of
from agentlab.schemas import REFERENCE
from agentlab.state import StepResult
from agentlab.tools.calculator import CONSTANTS, FUNCTIONS, Evaluator

MAX_CONDITION_CHARS = 300

PREDICATES = ("empty", "failed")
"""The questions a condition may ask about one result."""

_PLACEHOLDER = "_ref{}_"

_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: lambda a, b: bool(a == b),
    ast.NotEq: lambda a, b: bool(a != b),
    ast.Lt: lambda a, b: bool(a < b),
    ast.LtE: lambda a, b: bool(a <= b),
    ast.Gt: lambda a, b: bool(a > b),
    ast.GtE: lambda a, b: bool(a >= b),
}


class ConditionError(ValueError):
    """A condition that does not parse, or cannot be evaluated on the results it names."""


class Parsed:
    """A condition's syntax tree, with each `${...}` replaced by a placeholder name."""

    def __init__(self, text: str) -> None:
        if len(text) > MAX_CONDITION_CHARS:
            raise ConditionError(f"the condition is longer than {MAX_CONDITION_CHARS} characters")
        self.references: list[tuple[str, int | None]] = []

        def placeholder(match: Any) -> str:
            index = match.group(2)
            self.references.append((match.group(1), int(index) if index is not None else None))
            return _PLACEHOLDER.format(len(self.references) - 1)

        source = REFERENCE.sub(placeholder, text.strip()).replace("^", "**")
        try:
            self.tree = ast.parse(source, mode="eval")
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            raise ConditionError(f"does not parse: {getattr(exc, 'msg', exc)}") from None
        self.source = source
        names = {_PLACEHOLDER.format(i) for i in range(len(self.references))}
        for node in ast.walk(self.tree):
            _check_node(node, names)


def _check_node(node: ast.AST, names: set[str]) -> None:
    """Refuse what no condition may hold (the evaluator refuses the rest as it walks)."""
    known = (names, CONSTANTS, FUNCTIONS, PREDICATES)
    if isinstance(node, ast.Name) and not any(node.id in k for k in known):
        raise ConditionError(
            f"unknown name {node.id!r}: refer to a step's result as ${{id}}, "
            'write text in quotes, e.g. ${s1} == "none"'
        )
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name):
            raise ConditionError(
                "a condition calls functions by name only: empty(${id}), failed(${id}) "
                "or the calculator's"
            )
        name = node.func.id
        if name not in PREDICATES and name not in FUNCTIONS:
            raise ConditionError(
                f"unknown function {name!r}; a condition may ask "
                "empty(${id}) or failed(${id}), or compute with the calculator's functions"
            )
        if name in PREDICATES and (
            len(node.args) != 1
            or not isinstance(node.args[0], ast.Name)
            or node.args[0].id not in names
        ):
            raise ConditionError(f"{name} takes one step's result, e.g. {name}(${{s1}})")
    allowed = (
        ast.Expression,
        ast.BoolOp,
        ast.And,
        ast.Or,
        ast.UnaryOp,
        ast.Not,
        ast.USub,
        ast.UAdd,
        ast.Compare,
        ast.BinOp,
        ast.Constant,
        ast.Name,
        ast.Load,
        ast.Call,
        ast.List,
        ast.operator,
        ast.cmpop,
    )
    if not isinstance(node, allowed):
        raise ConditionError(f"{type(node).__name__} is not allowed in a condition")


def parse(text: str) -> Parsed:
    """The condition's tree and references; raises `ConditionError` when it does not parse."""
    return Parsed(text)


def is_empty(result: StepResult) -> bool:
    """Whether a result gave nothing: it failed or was skipped, its text is blank, its list
    is empty, or it is a search without hits."""
    if result.status != "ok" or not result.output.strip():
        return True
    values = list_of(result)
    if values is not None:
        return not values
    data = result.data
    return isinstance(data, dict) and data.get("hits") == []


def _value(result: StepResult, index: int | None) -> Any:
    """A result as a condition reads it: its number when the text is one, else the text."""
    text = result.output if index is None else element_text(result, index)
    if text is None or (index is None and result.status != "ok"):
        raise ConditionError(
            f"${{{result.step_id}}} has no result to compare; ask failed(${{{result.step_id}}}) "
            "first"
        )
    try:
        return Fraction(text.strip().replace(",", ""))
    except (ValueError, ZeroDivisionError):
        return text.strip()


# mypy reads `agentlab.tools` (the top-level tools/ folder) as untyped: Evaluator is Any.
class _ConditionEvaluator(Evaluator):  # type: ignore[misc]
    """The calculator's walk, with references, strings, comparisons, logic and predicates."""

    def __init__(self, parsed: Parsed, results: list[StepResult]) -> None:
        super().__init__(parsed.source)
        self.results = {_PLACEHOLDER.format(i): r for i, r in enumerate(results)}
        self.indexes = {_PLACEHOLDER.format(i): ix for i, (_, ix) in enumerate(parsed.references)}

    def evaluate(self, node: ast.AST) -> Any:
        if isinstance(node, ast.BoolOp):
            return self._boolean(node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return not self._truth(node.operand)
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value.strip()
        if isinstance(node, ast.Name) and node.id in self.results:
            return _value(self.results[node.id], self.indexes[node.id])
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in PREDICATES
        ):
            result = self.results[node.args[0].id]  # type: ignore[attr-defined]
            return is_empty(result) if node.func.id == "empty" else result.status != "ok"
        return super().evaluate(node)

    def _truth(self, node: ast.AST) -> bool:
        value = self.evaluate(node)
        if not isinstance(value, bool):
            raise ConditionError("and, or and not need conditions, e.g. ${s1} > 0 and ...")
        return value

    def _boolean(self, node: ast.BoolOp) -> bool:
        if isinstance(node.op, ast.And):
            return all(self._truth(v) for v in node.values)
        return any(self._truth(v) for v in node.values)

    def _compare(self, node: ast.Compare) -> bool:
        left = self.evaluate(node.left)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = self.evaluate(right_node)
            compare = _COMPARE.get(type(op))
            if compare is None:
                raise ConditionError(f"{type(op).__name__} is not a comparison a condition takes")
            if isinstance(left, str) != isinstance(right, str):
                raise ConditionError(f"cannot compare {left!r} with {right!r}: text with a number")
            if not compare(left, right):
                return False
            left = right
        return True


def holds(text: str, results: dict[str, StepResult]) -> bool:
    """Whether the condition is true of `results`; raises `ConditionError` when it does not
    parse, names a step without a result, or compares text with a number."""
    parsed = parse(text)
    named: list[StepResult] = []
    for ref, _index in parsed.references:
        if ref not in results:
            raise ConditionError(f"${{{ref}}} has not run")
        named.append(results[ref])
    evaluator = _ConditionEvaluator(parsed, named)
    try:
        value = evaluator.evaluate(parsed.tree)
    except ToolError as exc:
        raise ConditionError(exc.message) from None
    except (TypeError, ArithmeticError) as exc:
        # Arithmetic on text (`${s1} + 1` where s1 is not a number).
        raise ConditionError(f"cannot compute this: {exc}") from None
    if not isinstance(value, bool):
        raise ConditionError("the condition must be true or false, e.g. ${s1} > 100")
    return value
