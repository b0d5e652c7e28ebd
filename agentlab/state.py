"""The graph's state: one TypedDict with reducers; nodes return partial updates only."""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from pydantic import BaseModel, ConfigDict

from agentlab.approvals import ApprovalDecision, ApprovalRequest
from agentlab.effects import Effect
from agentlab.failures import FailureEvent
from agentlab.schemas import Plan, Reflection
from agentlab.stops import StopReason

RunStatus = Literal["running", "answered", "no_answer", "budget_exhausted", "error"]
StepStatus = Literal["ok", "error", "skipped"]


class StepResult(BaseModel):
    """What one executed (or skipped) step produced."""

    model_config = ConfigDict(frozen=True)

    step_id: str
    tool: str
    args: dict[str, Any]
    """Arguments after `${id}` substitution, as the tool received them."""
    status: StepStatus
    output: str
    """The text the model reads and `${id}` substitutes; the error message when status is error."""
    data: Any = None
    """The tool's typed result as JSON-ready data."""
    started: float = 0.0
    ended: float = 0.0
    artifacts: list[str] = []
    """Paths of files the step produced, saved beside the trace."""
    external: bool = False
    """Whether the output is text from outside, shown to the model fenced as untrusted data."""
    flagged: list[str] = []
    """Prompt-injection hits in the output (`rule: quote`), warned about in prompts."""
    items: list[StepResult] | None = None
    """A fan-out's results, one per item in item order (None: the step is not a fan-out).
    The step is `ok` only when every item is; `${id[i]}` reads one item either way."""
    not_taken: bool = False
    """Skipped because its `when` condition was false (or it needs only such steps): a
    branch not taken, not a failure."""


class CodeAttempt(BaseModel):
    """A plan's code answer and how it did on the task's own examples."""

    model_config = ConfigDict(frozen=True)

    code: str
    passed: int
    failed: int


def best_attempt(attempts: list[CodeAttempt]) -> CodeAttempt:
    """The attempt that passed the most examples (the latest of equals)."""
    return max(reversed(attempts), key=lambda a: a.passed)


class Counters(BaseModel):
    """Run totals; updates are deltas that the reducer adds up."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    llm_calls: int = 0
    """Model calls (retries of malformed replies included)."""
    tokens_in: int = 0
    """Prompt tokens."""
    tokens_out: int = 0
    """Completion tokens."""
    tool_calls: int = 0
    """Tool calls made."""
    replans: int = 0
    """Plans after the first."""

    def __add__(self, other: Counters) -> Counters:
        return Counters(
            **{name: getattr(self, name) + getattr(other, name) for name in Counters.model_fields}
        )

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out


def add_counters(left: Counters | None, right: Counters | None) -> Counters:
    return (left or Counters()) + (right or Counters())


def merge_results(
    left: dict[str, StepResult] | None, right: dict[str, StepResult] | None
) -> dict[str, StepResult]:
    return {**(left or {}), **(right or {})}


def merge_decisions(
    left: dict[str, ApprovalDecision] | None, right: dict[str, ApprovalDecision] | None
) -> dict[str, ApprovalDecision]:
    return {**(left or {}), **(right or {})}


class AgentInput(TypedDict, total=False):
    """What a caller passes to `invoke`: the task (and optionally its id, for evaluations),
    or chat-style `messages`, whose last human message is the task (see `lifecycle.begin`)."""

    task: str
    task_id: str
    messages: Annotated[list[AnyMessage], add_messages]


class AgentState(TypedDict, total=False):
    """Everything a run knows. Per-run fields are reset by `recall` when a new run starts."""

    task: str
    task_id: str | None
    run_id: str
    started_at: float
    messages: Annotated[list[AnyMessage], add_messages]
    """Short-term memory: the conversation on this thread, across runs."""
    turn_id: str | None
    """The id of the human message the run answers (its task as a message): a later human
    message with another id is a new chat turn."""
    memories: list[str]
    """Long-term memories recalled for this task."""
    plan: Plan | None
    plan_version: int
    results: Annotated[dict[str, StepResult], merge_results]
    past_calls: Annotated[dict[str, StepResult], merge_results]
    """Every tool call of the run keyed by tool and arguments, to spot repeated actions."""
    candidates: list[Plan]
    """With `AgentConfig.plans` above 1: the round's candidate plans, as the model wrote them
    (`plan` then runs the valid ones together, their step ids prefixed `c1_`, `c2_`...)."""
    valid_candidates: list[int]
    """Which candidates (1-based) passed the validator and run."""
    prior_calls: dict[str, StepResult]
    """Calls of earlier plans in the run that succeeded and were not judged wrong: a later
    plan repeating one reuses its result instead of calling the tool again."""
    rejected: Annotated[list[str], operator.add]
    """Calls (tool and arguments) the reflector judged wrong: a plan repeating one is refused."""
    reflections: Annotated[list[Reflection], operator.add]
    findings: list[str]
    """What the planner must fix next: validator findings, tool errors, the reflector's critique."""
    round_note: str
    """What the planner is told about this round besides findings (a partial plan's results
    to build on)."""
    code_attempts: Annotated[list[CodeAttempt], operator.add]
    """Code answers tried against the task's examples, with how many passed (code tasks)."""
    failures: Annotated[list[FailureEvent], operator.add]
    approvals: Annotated[dict[str, ApprovalDecision], merge_decisions]
    """Decisions on write steps, keyed `<plan version>/<step id>` (`agentlab.approvals`)."""
    awaiting: ApprovalRequest | None
    """The write step the executor wants a person to decide on (the approval node asks)."""
    effects: Annotated[list[Effect], operator.add]
    """What the run's write actions changed (files written, messages queued)."""
    answer_feedback: str
    """Why the last answer failed the output guardrail: the reflector is told (once)."""
    vault: dict[str, str]
    """Masked values by placeholder (`agentlab.guardrails.masking`): given back only to tools
    that declare they need them; never in a prompt, a trace event or memory."""
    counters: Annotated[Counters, add_counters]
    answer: str | None
    stop: StopReason | None
    """Why the run stopped, once it has (see `agentlab.stops`); status and detail follow from it."""
    status: RunStatus
    status_detail: str
