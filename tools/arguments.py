"""A tool's argument schema, read from the tool however it was declared.

Tools arrive in three shapes: a pydantic `args_schema` (agentlab's own tools),
an `@tool` function (langchain-core builds a pydantic model from its signature),
and a JSON Schema dict (`StructuredTool.from_function(..., args_schema={...})`,
OpenAI-style function declarations, MCP servers). `ArgumentSchema` is the one
notion the framework uses for all three: the JSON Schema the prompt and the
plan schema show, and the problems of a call's arguments, which the validator
and the executor record. Pydantic schemas are checked by their own model (what
the tool will run with); JSON schemas by the JSON Schema standard's validator
(`jsonschema`), since no pydantic model exists for them.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

import jsonschema
from jsonschema.exceptions import SchemaError
from langchain_core.tools import BaseTool
from pydantic import BaseModel, ValidationError
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from agentlab.schemas import REFERENCE

ProblemKind = Literal["missing", "unexpected", "wrong"]

SCHEMA_URI = "urn:agentlab:tool-arguments"
"""The URI a JSON-schema tool's arguments schema is registered under, for its `$ref`s."""
MAX_REF_HOPS = 32
"""`$ref`s followed in a row at most (a schema may point in a circle)."""

MAX_PROBLEM_CHARS = 200
"""A problem's text is cut to this many characters (it may quote a model's value)."""


@dataclass(frozen=True, slots=True)
class ArgumentProblem:
    """One thing wrong with a call's arguments."""

    kind: ProblemKind
    """`missing` (a required argument absent), `unexpected` (an argument the tool does not
    take), `wrong` (a value of the wrong type, outside an enum, a bad nested value)."""
    arg: str
    """The top-level argument concerned."""
    path: tuple[str | int, ...] = ()
    """Where inside the argument the problem is (keys and indexes); () for the argument."""
    problem: str = ""
    """What is wrong, for `wrong`."""


def _clip(text: str) -> str:
    return text if len(text) <= MAX_PROBLEM_CHARS else text[: MAX_PROBLEM_CHARS - 3] + "..."


def _shown_path(path: tuple[str | int, ...]) -> str:
    return "".join(f"[{part!r}]" if isinstance(part, str) else f"[{part}]" for part in path)


def problem_text(problem: ArgumentProblem) -> str:
    """A `wrong` problem as a message says it: where (inside the argument), then what."""
    where = f"at {_shown_path(problem.path)}: " if problem.path else ""
    return where + problem.problem


class ArgumentSchema:
    """The arguments a tool takes: its JSON Schema, and the problems of a call."""

    def __init__(self, tool: BaseTool) -> None:
        declared = tool.args_schema
        self.model: type[BaseModel] | None = None
        if isinstance(declared, Mapping):
            self.json: dict[str, Any] = _object_schema(copy.deepcopy(dict(declared)))
        else:
            # A pydantic args_schema, or one langchain-core builds from the signature.
            self.model = cast(type[BaseModel], tool.get_input_schema())
            self.json = self.model.model_json_schema()
        self._validator = _json_validator(self.json) if self.model is None else None
        resource = Resource.from_contents(self.json, default_specification=DRAFT202012)
        self._refs = Registry().with_resource(SCHEMA_URI, resource).resolver(base_uri=SCHEMA_URI)

    @property
    def properties(self) -> dict[str, Any]:
        """The arguments by name, each with its JSON Schema."""
        found = self.json.get("properties")
        return dict(found) if isinstance(found, Mapping) else {}

    @property
    def required(self) -> list[str]:
        found = self.json.get("required")
        return [str(name) for name in found] if isinstance(found, list) else []

    @property
    def closed(self) -> bool:
        """Whether names outside `properties` are refused: the schema lists its arguments and
        does not open itself to others (`additionalProperties` true or a schema)."""
        extra = self.json.get("additionalProperties", False)
        return "properties" in self.json and (extra is False or extra is None)

    def read_results(self, args: Mapping[str, Any], planned: Mapping[str, Any]) -> dict[str, Any]:
        """`args` (the step's arguments with results substituted) with each value a `${id}`
        filled in `planned` (the arguments as planned), at any depth, read as JSON when the
        schema wants another type there and the parsed value fits: `"15"` for a number is 15.
        A pydantic model converts such text itself; a JSON-schema tool gets its arguments as
        they are, so the types must be right before the call."""
        if self._validator is None:
            return dict(args)
        properties = self.properties
        return {
            name: self._read(value, planned.get(name), properties.get(name))
            for name, value in args.items()
        }

    def _read(self, value: Any, planned: Any, spec: Any) -> Any:
        spec = self._resolved(spec)
        if spec is None:
            return value
        if isinstance(planned, str):
            if not (REFERENCE.search(planned) and isinstance(value, str)):
                return value
            if self._fits(spec, value):
                return value
            try:
                parsed = json.loads(value)
            except ValueError:
                return value
            return parsed if self._fits(spec, parsed) else value
        if isinstance(planned, Mapping) and isinstance(value, Mapping):
            inner = spec.get("properties")
            inner = inner if isinstance(inner, Mapping) else {}
            return {k: self._read(v, planned.get(k), inner.get(k)) for k, v in value.items()}
        if isinstance(planned, list) and isinstance(value, list) and len(planned) == len(value):
            items = spec.get("items")
            return [self._read(v, p, items) for v, p in zip(value, planned, strict=True)]
        return value

    def _resolved(self, spec: Any) -> Mapping[str, Any] | None:
        """`spec`, or the definition its `$ref` points at (through further `$ref`s); a `$ref`
        that does not resolve stays as it is."""
        resolver = self._refs
        for _ in range(MAX_REF_HOPS):
            ref = spec.get("$ref") if isinstance(spec, Mapping) else None
            if not isinstance(ref, str):
                break
            try:
                found = resolver.lookup(ref)
            except Unresolvable:
                break
            spec, resolver = found.contents, found.resolver
        return spec if isinstance(spec, Mapping) else None

    def _fits(self, spec: Mapping[str, Any], value: Any) -> bool:
        # Checked by the root's validator, so the argument's `$ref`s resolve against the root.
        assert self._validator is not None
        try:
            return bool(self._validator.evolve(schema=spec).is_valid(value))
        except (RecursionError, Unresolvable):
            # `$ref`s in a circle or to nowhere: a tool's schema is not ours to trust.
            return False

    def problems(self, args: Mapping[str, Any]) -> list[ArgumentProblem]:
        """Every problem of `args`: unexpected names first, then per-argument problems."""
        known = self.properties
        unexpected = [name for name in args if name not in known] if self.closed else []
        found = [ArgumentProblem("unexpected", name) for name in unexpected]
        checked = {k: v for k, v in args.items() if k not in unexpected}
        if self.model is not None:
            found += _model_problems(self.model, checked)
        elif self._validator is not None:
            # `$ref`s in a circle or to nowhere: as with a schema that is not JSON Schema,
            # only the names are checked.
            with contextlib.suppress(RecursionError, Unresolvable):
                found += [p for e in self._validator.iter_errors(checked) for p in _json_problem(e)]
        # jsonschema reports each missing name once per `required` list: keep one of each.
        return list(dict.fromkeys(found))


def _object_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A declared JSON Schema as an object schema (a declaration may leave `type` out)."""
    schema.setdefault("type", "object")
    return schema


def _json_validator(schema: dict[str, Any]) -> Any | None:
    """The validator for the schema's own draft (2020-12 when it names none); None when the
    schema is not valid JSON Schema, so that only names are checked."""
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except SchemaError:
        return None
    return cls(schema)


def _model_problems(model: type[BaseModel], args: dict[str, Any]) -> list[ArgumentProblem]:
    try:
        model.model_validate(args)
    except ValidationError as exc:
        return [_pydantic_problem(error) for error in exc.errors()]
    return []


def _pydantic_problem(error: Any) -> ArgumentProblem:
    loc = tuple(error["loc"])
    arg = str(loc[0]) if loc else ""
    path = cast(tuple[str | int, ...], loc[1:])
    if error["type"] == "missing" and len(loc) == 1:
        return ArgumentProblem("missing", arg)
    return ArgumentProblem("wrong", arg, path, _clip(str(error["msg"])))


def _json_problem(error: jsonschema.ValidationError) -> Iterator[ArgumentProblem]:
    path = tuple(error.absolute_path)
    if not path:
        if error.validator == "required":
            instance = error.instance if isinstance(error.instance, Mapping) else {}
            for name in cast(list[str], error.validator_value):
                if name not in instance:
                    yield ArgumentProblem("missing", str(name))
            return
        if error.validator == "additionalProperties":
            return  # named as unexpected already
        yield ArgumentProblem("wrong", "", (), _clip(error.message))
        return
    yield ArgumentProblem("wrong", str(path[0]), path[1:], _clip(error.message))


def argument_schema(tool: BaseTool) -> ArgumentSchema:
    """The argument schema of `tool`, however it was declared."""
    return ArgumentSchema(tool)


def args_json_schema(tool: BaseTool) -> dict[str, Any]:
    """The JSON Schema of `tool`'s arguments (a copy the caller may change)."""
    return copy.deepcopy(argument_schema(tool).json)
