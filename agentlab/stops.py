"""Why a run stopped, as data: one typed reason per way a run can end.

A node that ends a run returns one of these; the run's status, its footer and
the sentence a person reads are all derived from it, so nobody matches on the
sentence. `Budget` names which limit ran out with the numbers behind it.
"""

from __future__ import annotations

from typing import Annotated, Literal, TypeAlias, assert_never

from pydantic import BaseModel, ConfigDict, Field

from agentlab.failures import FailureCategory

BudgetName: TypeAlias = Literal["llm_calls", "steps", "tokens", "time", "replans"]

_BUDGET_TEXT: dict[BudgetName, str] = {
    "llm_calls": "LLM calls: {used:g} of {limit:g} used",
    "steps": "steps: {used:g} of {limit:g} tool calls used",
    "tokens": "tokens: {used:g} of {limit:g} used",
    "time": "time: {used:.0f} s of {limit:.0f} s used",
    "replans": "replans: {used:g} of {limit:g} used",
}


class _Stop(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class Answered(_Stop):
    """The run settled on an answer."""

    kind: Literal["answered"] = "answered"


class NoAnswer(_Stop):
    """The run ended without an answer; `detail` says why."""

    kind: Literal["no_answer"] = "no_answer"
    detail: str
    """Why there is no answer."""


class Budget(_Stop):
    """A budget ran out: which one, how much was used, and the limit."""

    kind: Literal["budget_exhausted"] = "budget_exhausted"
    budget: BudgetName
    """Which budget ran out."""
    used: float
    """How much of it was used."""
    limit: float
    """Its limit (`Budgets`)."""

    def describe(self) -> str:
        return _BUDGET_TEXT[self.budget].format(used=self.used, limit=self.limit)


class Errored(_Stop):
    """The model backend failed, or an internal error was caught; `category` when known."""

    kind: Literal["error"] = "error"
    detail: str
    """What failed."""
    category: FailureCategory | None = None
    """The failure's category (`model.*`), when known."""


class Interrupted(_Stop):
    """The run was interrupted (Ctrl-C) before it ended."""

    kind: Literal["interrupted"] = "interrupted"


StopReason = Annotated[
    Answered | NoAnswer | Budget | Errored | Interrupted, Field(discriminator="kind")
]

STOP_TYPES = (Answered, NoAnswer, Budget, Errored, Interrupted)
"""Every stop reason class (the checkpoint serializer allows these)."""

RunEnd = Literal["answered", "no_answer", "budget_exhausted", "error"]


def status_of(stop: StopReason) -> RunEnd:
    """The run status a stop reason stands for (an interrupted run is an `error`)."""
    match stop:
        case Answered():
            return "answered"
        case NoAnswer():
            return "no_answer"
        case Budget():
            return "budget_exhausted"
        case Errored() | Interrupted():
            return "error"
        case _:
            assert_never(stop)


def describe(stop: StopReason) -> str:
    """The sentence a person reads (the footer's `status_detail`)."""
    match stop:
        case Answered():
            return ""
        case NoAnswer(detail=detail) | Errored(detail=detail):
            return detail
        case Budget():
            return f"budget exhausted: {stop.describe()}"
        case Interrupted():
            return "interrupted"
        case _:
            assert_never(stop)
