"""The structured outputs a model produces: plans, reflections and critiques.

Field names are a public contract (recorded runs and cassettes use them), so
they match DESIGN.md exactly. Arguments stay an open JSON object here; each
tool's own `args_schema` checks them in the validator and executor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

STEP_ID_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]{0,31}$"
"""What a step id may be: a letter or `_`, then up to 31 letters, digits, `_` or `-`.

Ids name artifact files and appear in `${id}` references, so they are short
identifiers. The pattern is in the JSON schema the model is given (constrained
decoding cannot produce anything else) but not applied when a reply is parsed:
a plan with a bad id reaches the validator, which reports it as a finding the
planner can fix, instead of failing the whole reply as malformed.
"""

_STEP_ID = re.compile(STEP_ID_PATTERN.removesuffix("$") + r"\Z")

REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_\-]*)(?:\[(\d{1,4})\])?\}")
"""A reference to an earlier step's result: `${s1}` (every valid step id can be referenced),
or `${s2[0]}`, one item of a list result (a fan-out's, or JSON text that is a list).
Group 1 is the step id (or a fan-out's item name), group 2 the index when one is given."""

TEMPLATE_REFERENCE = re.compile(
    r"\$\{([A-Za-z_][A-Za-z0-9_\-]*)(?:\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d{1,4})\])?\}"
)
"""A reference in a plan's answer template: `${s2}` (the step's result), `${s2[0]}` (one
item of it) or `${s1.code}` (the step's argument `code`, as it ran: how a plan names the
code it wrote)."""

DEFAULT_ITEM = "item"
"""The name a fan-out binds each item to when the step does not choose one: `${item}`."""


def is_step_id(value: str) -> bool:
    """Whether `value` is a valid step id (`STEP_ID_PATTERN`)."""
    return _STEP_ID.match(value) is not None


class Step(BaseModel):
    """One typed tool call in a plan."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(
        description="Unique step id, e.g. s1", json_schema_extra={"pattern": STEP_ID_PATTERN}
    )
    tool: str = Field(description="Name of a tool from the inventory")
    args: dict[str, Any] = Field(
        default_factory=dict, description="Arguments; ${id} refers to an earlier step's result"
    )
    why: str = Field(default="", description="One short reason for the step")
    for_each: list[Any] | str | None = Field(
        default=None,
        description="Run the step once per item: a list, or ${id} of an earlier list result",
    )
    item: str = Field(
        default=DEFAULT_ITEM, description="The name ${...} gives each item of for_each"
    )
    when: str = Field(
        default="", description="Run the step only if this condition over earlier results holds"
    )

    @model_serializer(mode="wrap")
    def _without_unused_control_flow(self, handler: SerializerFunctionWrapHandler) -> Any:
        # A plain step dumps as it always did (recorded plans, prompts, the contract test):
        # control-flow fields appear only when the step uses them.
        dumped = handler(self)
        if isinstance(dumped, dict):
            for name, unused in (("for_each", None), ("item", DEFAULT_ITEM), ("when", "")):
                if dumped.get(name, unused) == unused and not (
                    name == "item" and self.for_each is not None
                ):
                    dumped.pop(name, None)
        return dumped

    def source_reference(self) -> str | None:
        """The step id a fan-out's list comes from (`for_each: "${s1}"`), else None."""
        if not isinstance(self.for_each, str):
            return None
        match = REFERENCE.fullmatch(self.for_each.strip())
        return match.group(1) if match is not None and match.group(2) is None else None

    def argument_references(self) -> list[tuple[str, int | None]]:
        """`(step id, index or None)` of every `${...}` in the arguments, in order; a
        fan-out's own item name is not a step."""
        found: list[tuple[str, int | None]] = []
        _collect_references(self.args, found)
        if self.for_each is not None:
            found = [(ref, index) for ref, index in found if ref != self.item]
        return found

    def condition_references(self) -> list[str]:
        """Step ids the `when` condition refers to, in order."""
        found: list[tuple[str, int | None]] = []
        _collect_references(self.when, found)
        return _ids(found)

    def needs(self) -> list[tuple[str, int | None]]:
        """The results this step cannot run without: its arguments' references and its
        fan-out's list. A failed one skips the step (a `when` may ask about failures)."""
        source = self.source_reference()
        found: list[tuple[str, int | None]] = [(source, None)] if source is not None else []
        if isinstance(self.for_each, list):
            _collect_references(self.for_each, found)
        return found + [r for r in self.argument_references() if r not in found]

    def references(self) -> list[str]:
        """Step ids this step waits for (arguments, fan-out list, condition), in order."""
        return _ids([*self.needs(), *((ref, None) for ref in self.condition_references())])


def _ids(found: list[tuple[str, int | None]]) -> list[str]:
    ids: list[str] = []
    for ref, _index in found:
        if ref not in ids:
            ids.append(ref)
    return ids


def _collect_references(value: Any, found: list[tuple[str, int | None]]) -> None:
    if isinstance(value, str):
        for match in REFERENCE.finditer(value):
            index = match.group(2)
            ref = (match.group(1), int(index) if index is not None else None)
            if ref not in found:
                found.append(ref)
    elif isinstance(value, dict):
        for element in value.values():
            _collect_references(element, found)
    elif isinstance(value, list):
        for element in value:
            _collect_references(element, found)


class ExampleCall(BaseModel):
    """One example the model chooses for code it wrote: a call and the value it returns."""

    call: str = Field(description="A call of the function with literal arguments, e.g. f('ab', 2)")
    returns: str = Field(
        description="The value the task says the call returns, as a Python literal"
    )


class ChosenExamples(BaseModel):
    """Examples for code that nothing checked (a request that gave none): they run as
    asserts after the code."""

    examples: list[ExampleCall] = Field(min_length=1, max_length=5)


class Plan(BaseModel):
    """A task decomposed into tool calls; steps may run in parallel unless they reference each other.

    `answer` is the final answer as a template over the steps' results (`"${s2}"`,
    `"${s1} km"`, `"${s1.code}"`); empty when the plan only gathers what a next
    planning round needs to see.
    """

    model_config = ConfigDict(extra="ignore")

    approach: str = Field(
        default="",
        description="One sentence, written before the steps: what the answer is computed from",
    )
    steps: list[Step] = Field(default_factory=list)
    answer: str = Field(
        default="",
        description='The final answer built from the results, e.g. "${s2}"; "" to plan again',
    )

    def step(self, step_id: str) -> Step | None:
        return next((s for s in self.steps if s.id == step_id), None)

    def answer_references(self) -> list[tuple[str, str | None]]:
        """`(step id, argument or None)` of every `${...}` in the answer template, in order
        (`${s2[0]}` counts as a reference to s2's result)."""
        return [(m.group(1), m.group(2)) for m in TEMPLATE_REFERENCE.finditer(self.answer)]


class Reflection(BaseModel):
    """The reflector's verdict on a plan's results."""

    model_config = ConfigDict(extra="ignore")

    decision: Literal["finish", "continue", "replan"]
    answer: str = Field(default="", description="The final answer when decision is finish")
    wrong: list[str] = Field(
        default_factory=list, description="Ids of the steps whose results are wrong"
    )
    critique: str = Field(default="", description="What to change when decision is replan")


class ClosingReflection(BaseModel):
    """A `Reflection` asked for when every step has run, so `continue` is not on offer.

    Constrained decoding then cannot pick a decision the graph has no use for;
    small models otherwise answer `continue` with the right answer in hand.
    """

    model_config = ConfigDict(extra="ignore", title="Reflection")

    # The answer comes first and every field is required, so a model decoding
    # under the schema's grammar states what the results say before it judges
    # them (the object's field names are unchanged).
    answer: str = Field(description="The final answer the results give")
    decision: Literal["finish", "replan"]
    wrong: list[str] = Field(
        default_factory=list, description="Ids of the steps whose results are wrong"
    )
    critique: str = Field(description="What to change when decision is replan, else empty")

    def as_reflection(self) -> Reflection:
        return Reflection(
            decision=self.decision, answer=self.answer, wrong=self.wrong, critique=self.critique
        )


class Critique(BaseModel):
    """An optional LLM review of a plan before it runs."""

    model_config = ConfigDict(extra="ignore")

    verdict: Literal["ok", "revise"]
    issues: list[str] = Field(default_factory=list)


# Typed decisions the graph routes on; the wire format above is converted into one of these.


@dataclass(frozen=True, slots=True)
class Finish:
    answer: str


@dataclass(frozen=True, slots=True)
class Continue:
    pass


@dataclass(frozen=True, slots=True)
class Replan:
    critique: str


Decision = Finish | Continue | Replan


def decision_of(reflection: Reflection) -> Decision:
    """The typed decision a reflection stands for."""
    if reflection.decision == "finish":
        return Finish(reflection.answer.strip())
    if reflection.decision == "continue":
        return Continue()
    return Replan(reflection.critique.strip())
