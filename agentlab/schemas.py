"""The structured outputs a model produces: plans, reflections and critiques.

Field names are a public contract (recorded runs and cassettes use them), so
they match DESIGN.md exactly. Arguments stay an open JSON object here; each
tool's own `args_schema` checks them in the validator and executor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

STEP_ID_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]{0,31}$"
"""What a step id may be: a letter or `_`, then up to 31 letters, digits, `_` or `-`.

Ids name artifact files and appear in `${id}` references, so they are short
identifiers. The pattern is in the JSON schema the model is given (constrained
decoding cannot produce anything else) but not applied when a reply is parsed:
a plan with a bad id reaches the validator, which reports it as a finding the
planner can fix, instead of failing the whole reply as malformed.
"""

_STEP_ID = re.compile(STEP_ID_PATTERN.removesuffix("$") + r"\Z")

REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_\-]*)\}")
"""A reference to an earlier step's result: `${s1}` (every valid step id can be referenced)."""

TEMPLATE_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_\-]*)(?:\.([A-Za-z_][A-Za-z0-9_]*))?\}")
"""A reference in a plan's answer template: `${s2}` (the step's result) or `${s1.code}`
(the step's argument `code`, as it ran: how a plan names the code it wrote)."""


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

    def references(self) -> list[str]:
        """Step ids this step refers to with `${id}`, in order of appearance."""
        found: list[str] = []
        _collect_references(self.args, found)
        return found


def _collect_references(value: Any, found: list[str]) -> None:
    if isinstance(value, str):
        found.extend(ref for ref in REFERENCE.findall(value) if ref not in found)
    elif isinstance(value, dict):
        for item in value.values():
            _collect_references(item, found)
    elif isinstance(value, list):
        for item in value:
            _collect_references(item, found)


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
        """`(step id, argument or None)` of every `${...}` in the answer template, in order."""
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
