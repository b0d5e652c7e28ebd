"""Structured replies: JSON text parsed into a pydantic model, with one mechanical repair."""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

T = TypeVar("T", bound=BaseModel)

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.S)
_TOKEN = re.compile(r'\\.|["\[\]{}]', re.S)

MAX_DEPTH = 64
"""The deepest nesting of arrays and objects a reply may have. A plan needs a handful of
levels; a reply nested thousands deep would overflow the recursion of the JSON decoder,
pydantic and every walk over the arguments, so it is refused before decoding."""

TOO_DEEP = "the JSON is nested more than {limit} levels deep; write a flat object"


class MalformedOutputError(ValueError):
    """The reply did not parse into the schema, even after the mechanical repair."""

    def __init__(self, message: str, reply: str) -> None:
        super().__init__(message)
        self.message = message
        self.reply = reply


def nesting_depth(text: str) -> int:
    """How deep brackets nest in `text`, those inside strings left out (one linear pass)."""
    depth = deepest = 0
    in_string = False
    for token in _TOKEN.findall(text):
        if token == '"':
            in_string = not in_string
        elif in_string or len(token) > 1:  # a bracket in a string, or an escape
            continue
        elif token in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth = max(0, depth - 1)
    return deepest


def _decode(text: str) -> Any:
    # strict=False: grammar-constrained decoding can still emit raw control
    # characters inside strings.
    return json.loads(text, strict=False)


def _repair(text: str) -> Any:
    """Undo the mechanical damage models do: code fences, prose around the JSON object."""
    fenced = _FENCE.search(text)
    candidate = fenced.group(1) if fenced else text
    start = min((i for i in (candidate.find("{"), candidate.find("[")) if i >= 0), default=-1)
    if start < 0:
        raise ValueError("no JSON object in the reply")
    value, _end = json.JSONDecoder(strict=False).raw_decode(candidate, start)
    return value


def _fit(value: Any, schema: type[T]) -> Any:
    # A bare list where the schema has a single list field (a plan given as its steps).
    if isinstance(value, list):
        list_fields = [
            name
            for name, field in schema.model_fields.items()
            if getattr(field.annotation, "__origin__", None) is list
        ]
        if len(list_fields) == 1:
            return {list_fields[0]: value}
    return value


def _describe(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        problems = [
            f"{'.'.join(str(p) for p in err['loc']) or 'reply'}: {err['msg']}"
            for err in exc.errors()[:4]
        ]
        return "; ".join(problems)
    if isinstance(exc, json.JSONDecodeError):
        return f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
    if isinstance(exc, RecursionError):
        return TOO_DEEP.format(limit=MAX_DEPTH)
    return str(exc)


def parse_structured(text: str, schema: type[T]) -> T:
    """`text` as an instance of `schema`; raises `MalformedOutputError` saying what is wrong."""
    if nesting_depth(text) > MAX_DEPTH:
        raise MalformedOutputError(TOO_DEEP.format(limit=MAX_DEPTH), text)
    try:
        return schema.model_validate(_decode(text))
    except (json.JSONDecodeError, ValidationError, RecursionError) as first:
        try:
            return schema.model_validate(_fit(_repair(text), schema))
        except (ValueError, ValidationError, RecursionError):
            raise MalformedOutputError(_describe(first), text) from None
