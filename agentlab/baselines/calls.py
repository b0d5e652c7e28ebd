"""Function calls written as text, BFCL's "prompting" format: `[area(base=10, height=5)]`.

An architecture without tools (the `direct` baseline) answers a task of
declared functions with the calls themselves. The text is parsed with `ast`
and never evaluated: each item must be a call of a plain or dotted name with
keyword arguments whose values are literals (numbers, strings, booleans,
None, lists, tuples, dicts); a bare name is read as its text, as BFCL does
(`unit=celsius`). Anything else is refused with a message the model can act on.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from agentlab.schemas import Plan, Step

MAX_CALLS_CHARS = 20_000
"""Longer answers are refused before they are parsed."""
_FENCE = re.compile(r"^```[A-Za-z]*\s*|\s*```$")


class CallSyntaxError(ValueError):
    """The text is not a list of function calls in the accepted form."""


def parse_calls(text: str) -> Plan:
    """The calls `text` writes, as a plan of one step per call (ids `s1`, `s2`, ...).

    The surrounding brackets may be left out, as BFCL allows. Raises `CallSyntaxError`.
    """
    source = _FENCE.sub("", text.strip()).strip()
    if len(source) > MAX_CALLS_CHARS:
        raise CallSyntaxError(f"the calls are longer than {MAX_CALLS_CHARS} characters")
    if not source:
        raise CallSyntaxError("no function call: write [name(param=value, ...)]")
    if not source.startswith("["):
        source = f"[{source}"
    if not source.endswith("]"):
        source = f"{source}]"
    try:
        body = ast.parse(source, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        reason = exc.msg if isinstance(exc, SyntaxError) else type(exc).__name__
        raise CallSyntaxError(f"not Python call syntax ({reason})") from None
    items = body.elts if isinstance(body, ast.List) else [body]
    return Plan(steps=[_step(number, item) for number, item in enumerate(items, 1)])


def _step(number: int, item: ast.expr) -> Step:
    if not isinstance(item, ast.Call):
        raise CallSyntaxError(f"item {number} is not a function call: write name(param=value)")
    name = _dotted(item.func)
    if name is None:
        raise CallSyntaxError(f"call {number}: the function must be a name, e.g. area(...)")
    if item.args:
        raise CallSyntaxError(f"call {number} ({name}): name every argument (param=value)")
    args: dict[str, Any] = {}
    for keyword in item.keywords:
        if keyword.arg is None:
            raise CallSyntaxError(f"call {number} ({name}): no **arguments; name each one")
        args[keyword.arg] = _literal(keyword.value, f"call {number} ({name}), {keyword.arg}")
    return Step(id=f"s{number}", tool=name, args=args)


def _dotted(node: ast.expr) -> str | None:
    """`name` or `module.name` (BFCL declares functions such as `math.factorial`)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        owner = _dotted(node.value)
        return f"{owner}.{node.attr}" if owner is not None else None
    return None


def _literal(node: ast.expr, where: str) -> Any:
    match node:
        case ast.Constant(value=value) if value is not Ellipsis and not isinstance(
            value, bytes | complex
        ):
            return value
        case ast.UnaryOp(op=ast.USub() | ast.UAdd(), operand=ast.Constant(value=int() | float())):
            value = node.operand.value  # type: ignore[attr-defined]
            return -value if isinstance(node.op, ast.USub) else value
        case ast.List(elts=items) | ast.Tuple(elts=items):
            return [_literal(item, where) for item in items]
        case ast.Dict(keys=keys, values=values):
            return {_key(k, where): _literal(v, where) for k, v in zip(keys, values, strict=True)}
        case ast.Name(id=name):
            return name
        case _:
            raise CallSyntaxError(f"{where}: a value must be a literal, not {ast.unparse(node)!r}")


def _key(node: ast.expr | None, where: str) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str | int | float | bool):
        return str(node.value)
    raise CallSyntaxError(f"{where}: dict keys must be literal strings or numbers")
