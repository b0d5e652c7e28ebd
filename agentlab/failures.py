"""The failure taxonomy: stable dotted names for everything that can go wrong in a run.

A category is set where the failure is detected, never recovered later from
message text. The names are a public contract: traces, reports and ablation
studies key on them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class FailureCategory(StrEnum):
    """Every failure category of DESIGN.md, by its dotted name."""

    PLANNING_INVALID_TOOL = "planning.invalid_tool"
    PLANNING_INVALID_ARGUMENTS = "planning.invalid_arguments"
    PLANNING_WRONG_ARGUMENT_VALUES = "planning.wrong_argument_values"
    PLANNING_BAD_REFERENCE = "planning.bad_reference"
    PLANNING_MALFORMED_OUTPUT = "planning.malformed_output"
    PLANNING_OVER_BUDGET = "planning.over_budget"
    EXECUTION_TOOL_ERROR = "execution.tool_error"
    EXECUTION_TIMEOUT = "execution.timeout"
    EXECUTION_RESOURCE_LIMIT = "execution.resource_limit"
    REFLECTION_PREMATURE_FINISH = "reflection.premature_finish"
    REFLECTION_MISSED_FINISH = "reflection.missed_finish"
    GOAL_WRONG_ANSWER = "goal.wrong_answer"
    GOAL_NO_ANSWER = "goal.no_answer"
    EFFICIENCY_BUDGET_EXHAUSTED = "efficiency.budget_exhausted"
    EFFICIENCY_REPEATED_ACTION = "efficiency.repeated_action"
    MODEL_API_ERROR = "model.api_error"
    MODEL_CONTEXT_OVERFLOW = "model.context_overflow"
    MODEL_REPLAY_EXHAUSTED = "model.replay_exhausted"
    MODEL_OUTPUT_TRUNCATED = "model.output_truncated"
    GUARDRAIL_ACTION_REJECTED = "guardrail.action_rejected"
    GUARDRAIL_PROMPT_INJECTION = "guardrail.prompt_injection"
    GUARDRAIL_INPUT_MASKED = "guardrail.input_masked"
    GUARDRAIL_OUTPUT_INVALID = "guardrail.output_invalid"

    @property
    def family(self) -> str:
        """The part before the dot: planning, execution, reflection, goal, efficiency, model,
        guardrail."""
        return self.value.split(".", 1)[0]


def utc_now() -> str:
    """An ISO-8601 UTC timestamp with microseconds, as every trace event carries."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


class FailureEvent(BaseModel):
    """One failure, with where it happened. Run-level fields are filled in by the graph.

    The same object is the run's state entry and its trace event (`type` "failure").
    """

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    type: Literal["failure"] = "failure"
    category: FailureCategory
    """The dotted category (the taxonomy above)."""
    detail: str
    """What happened, for a person."""
    node: str
    """The node that detected it (`eval` for what grading found)."""
    step_id: str | None = None
    """The step it concerns, if one."""
    tool: str | None = None
    """The tool it concerns, if one."""
    args: dict[str, Any] | None = None
    """The arguments of that call."""
    item: int | None = None
    """The item's index (from 0) when the call was one item of a fan-out (`for_each`)."""
    run_id: str | None = None
    """The run's id."""
    task_id: str | None = None
    """The task's id in a suite."""
    variant: str | None = None
    """The variant's name."""
    time: str = Field(default_factory=utc_now)
    """When it was detected."""
