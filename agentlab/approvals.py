"""Human approval of write actions: the policy, the request, the decision, and the gate.

Before the executor runs a step of a tool with side effects, `gate` says
whether it runs, is refused, or must be asked about. Asking is the
`approval` node's `interrupt()`: the run stops with an `ApprovalRequest` and
resumes with `Command(resume=ApprovalDecision)` (approve, edit the arguments,
or reject), from this process or, through the checkpointer, a later one.
A rejection is a refused step (`guardrail.action_rejected`) that the planner
sees like any failed step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentlab.config import ApprovalPolicy

REJECTED = "the user rejected this {tool} call{note}; find another way, or answer without it"
DENIED = "write actions are denied for this agent (approval policy deny)"
UNREADABLE = "the approval answer could not be read ({problem}); taken as a rejection"


class ApprovalRequest(BaseModel):
    """What the run shows a person before a write action: the interrupt's value."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    key: str
    """Which step of which plan (`<plan version>/<step id>`): the decision is kept under it."""
    run_id: str
    """The run that waits."""
    step_id: str
    """The step to approve."""
    tool: str
    """Its tool (a write action)."""
    args: dict[str, Any]
    """Its arguments as they would run (references filled in; masked values stay masked)."""
    why: str = ""
    """The plan's reason for the step."""
    flagged: list[str] = Field(default_factory=list)
    """Prompt-injection warnings the run has seen: approval is asked even under `allow`."""


class ApprovalDecision(BaseModel):
    """A person's answer, the value a waiting run resumes with."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    decision: Literal["approve", "edit", "reject"]
    """Run the step, run it with `args`, or refuse it."""
    args: dict[str, Any] | None = None
    """The arguments to run instead (`edit` only)."""
    note: str = ""
    """Why, in a few words; the planner reads a rejection's note."""


Approver = Callable[[ApprovalRequest], ApprovalDecision]
"""Answers approval requests for a runner that has no person to ask (`--approve all|none`,
an evaluation)."""


def approve_all(request: ApprovalRequest) -> ApprovalDecision:
    """`--approve all`: every write action runs."""
    return ApprovalDecision(decision="approve")


def approve_none(request: ApprovalRequest) -> ApprovalDecision:
    """`--approve none`: no write action runs."""
    return ApprovalDecision(decision="reject", note="--approve none")


def approve_unflagged(request: ApprovalRequest) -> ApprovalDecision:
    """A careful reviewer with no time (`agentlab eval`): approves what it is asked, unless
    the request carries a prompt-injection warning."""
    if request.flagged:
        return ApprovalDecision(decision="reject", note="the run read flagged text")
    return ApprovalDecision(decision="approve")


def read_decision(value: Any) -> ApprovalDecision:
    """The decision a run resumed with; anything unreadable is a rejection (never a run)."""
    if isinstance(value, ApprovalDecision):
        return value
    if isinstance(value, str) and value in ("approve", "reject"):
        return ApprovalDecision(decision=value)
    try:
        decision = ApprovalDecision.model_validate(value)
    except ValidationError as exc:
        problem = exc.errors()[0]["msg"]
        return ApprovalDecision(decision="reject", note=UNREADABLE.format(problem=problem))
    if decision.decision == "edit" and decision.args is None:
        return ApprovalDecision(decision="reject", note="an edit without arguments")
    return decision


@dataclass(frozen=True, slots=True)
class RunStep:
    """The step runs, with these arguments when a person edited them."""

    args: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class RefuseStep:
    """The step is refused (`guardrail.action_rejected`)."""

    detail: str


@dataclass(frozen=True, slots=True)
class AskFirst:
    """A person must decide before the step runs."""


Gate: TypeAlias = RunStep | RefuseStep | AskFirst


def gate(
    policy: ApprovalPolicy,
    key: str,
    tool: str,
    decisions: Mapping[str, ApprovalDecision],
    *,
    flagged: bool,
) -> Gate:
    """What happens to a write step: a decision already made for it wins; else the policy
    (`allow` asks all the same once the run has read flagged text)."""
    decided = decisions.get(key)
    if decided is not None:
        if decided.decision == "reject":
            note = f" ({decided.note})" if decided.note else ""
            return RefuseStep(REJECTED.format(tool=tool, note=note))
        return RunStep(decided.args if decided.decision == "edit" else None)
    if policy == "deny":
        return RefuseStep(DENIED)
    if policy == "allow" and not flagged:
        return RunStep()
    return AskFirst()
