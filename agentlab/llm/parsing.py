"""Structured replies: JSON text parsed into a pydantic model, with one mechanical repair."""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

T = TypeVar("T", bound=BaseModel)

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.S)


class MalformedOutputError(ValueError):
    """The reply did not parse into the schema, even after the mechanical repair."""

    def __init__(self, message: str, reply: str) -> None:
        super().__init__(message)
        self.message = message
        self.reply = reply


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
    return str(exc)


def parse_structured(text: str, schema: type[T]) -> T:
    """`text` as an instance of `schema`; raises `MalformedOutputError` saying what is wrong."""
    try:
        return schema.model_validate(_decode(text))
    except (json.JSONDecodeError, ValidationError) as first:
        try:
            return schema.model_validate(_fit(_repair(text), schema))
        except (ValueError, ValidationError):
            raise MalformedOutputError(_describe(first), text) from None
