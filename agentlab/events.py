"""The typed record of a run: every trace event, one pydantic model each, in one union.

A trace is a JSON-lines file of these events: a `Header`, then what the run
did (node steps, plans, model calls, tool calls, failures, ...), then one
`Footer`, always last. Writers build the models; readers (eval, the report,
replay checks, tests) parse lines back with `parse_event`, so a field read
anywhere is a field defined here. The header carries `schema_version`; a
trace without one was written before typed events and is refused with the
command that converts it (`agentlab traces upgrade`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from agentlab.failures import FailureEvent, utc_now
from agentlab.schemas import Plan, Reflection
from agentlab.state import Counters, RunStatus, StepStatus
from agentlab.stops import StopReason

SCHEMA_VERSION = 2
"""Version 1 is the untyped format of agentlab 0.1 (no `schema_version` in the header)."""

Goto: TypeAlias = str | list[str] | None
JoinReason: TypeAlias = Literal[
    "clean",
    "always",
    "failed_steps",
    "unresolved_answer",
    "no_template",
    "not_usable",
    "examples_failed",
    "examples_passed",
    "budget",
]


class TraceError(ValueError):
    """A trace line that is not a valid event, or a trace in an older format."""


class Event(BaseModel):
    """What every event carries: the run it belongs to and when it was written."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str
    time: str = Field(default_factory=utc_now)


class Header(Event):
    """The first line: what ran, on what, with which switches."""

    type: Literal["header"] = "header"
    schema_version: int = SCHEMA_VERSION
    task: str
    task_id: str | None = None
    variant: str
    architecture: str = "agentlab"
    config: dict[str, Any]
    """The run's `AgentConfig`, as JSON."""
    model: str
    """The model spec (`local:NAME`, `openai:MODEL`, `replay:PATH`, `object:CLASS`)."""
    structured_output: str = "auto"
    """How structured replies are asked for, when known at the start (else `auto`: the
    mode a server takes is negotiated at the first call, see `structured_output` events)."""
    tools: list[str]
    """The inventory's tool names."""
    thread_id: str | None = None
    versions: dict[str, str] = Field(default_factory=dict)


class NodeStep(Event):
    """One step of a graph node: how long it took, where it routed, what it changed."""

    type: Literal["node"] = "node"
    node: str
    duration_s: float
    goto: Goto = None
    steps: list[str] = Field(default_factory=list)
    """Ids of the steps whose results this node step recorded."""
    findings: list[str] = Field(default_factory=list)
    status: RunStatus | None = None
    answer: str | None = None
    counters: dict[str, int] = Field(default_factory=dict)
    """What this node step added to the run's counters (non-zero ones only)."""


class PlanMade(Event):
    """A plan the run will execute: the planner's, or a baseline's tool call seen as one.

    `source` says which kind: `plan` (a whole plan from agentlab's planner),
    `action` (one tool call of a loop such as `react`; a run's actions in order
    are its plan), `answer` (an architecture without tools answered directly).
    """

    type: Literal["plan"] = "plan"
    node: str
    source: Literal["plan", "action", "answer"] = "plan"
    version: int = 1
    plan: Plan
    candidate: int | None = None
    """With several candidate plans per round: which one this is (1-based)."""


class Reflected(Event):
    """A reflector's decision on the results in hand."""

    type: Literal["reflection"] = "reflection"
    node: str
    reflection: Reflection


class CandidateOutcome(BaseModel):
    """One candidate plan's fate in a round of several."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    candidate: int
    valid: bool
    answer: str | None = None
    chosen: bool = False
    why: str = ""


class Joined(Event):
    """What the joiner decided once a plan had run, and why (no model call is made here).

    `decision`: `answer` (the template gave a usable answer), `reflect` (the reflector
    judges), `plan` (the planner goes again: a partial plan, or failures to fix). `reason`
    names the case; `template_answer` is what the template gave, so a report can tell
    whether a later reflection changed the outcome.
    """

    type: Literal["join"] = "join"
    node: str = "joiner"
    decision: Literal["answer", "reflect", "plan"]
    reason: JoinReason
    template_answer: str | None = None
    detail: str = ""
    candidates: list[CandidateOutcome] = Field(default_factory=list)
    """With several candidate plans: each one's answer, and which was chosen and why."""


class ModelCall(Event):
    """One request to the model and its reply."""

    type: Literal["model_call"] = "model_call"
    node: str
    model: str
    messages: list[dict[str, Any]]
    reply: str
    tokens_in: int
    tokens_out: int
    latency_s: float
    tokens_estimated: bool = False
    finish_reason: str | None = None
    """Why generation stopped, when the backend says (`stop`, `length` = cut off)."""
    structured: str | None = None
    """How a structured reply was asked for (`json_schema`, `json_object`, `prompt`,
    `grammar`, `provider`); None for a plain call."""
    cached: bool = False
    """Served by the response cache: no model call was made."""


class StructuredOutputChosen(Event):
    """The structured-output mode a server was found to take (negotiated once per server)."""

    type: Literal["structured_output"] = "structured_output"
    mode: str
    server: str | None = None
    rejected: list[dict[str, str]] = Field(default_factory=list)
    """The modes the server refused first, with its words."""


class ToolCall(Event):
    """One tool call and its result (arguments after `${id}` substitution)."""

    type: Literal["tool_call"] = "tool_call"
    step_id: str
    tool: str
    args: dict[str, Any]
    status: StepStatus
    output: str
    data: Any = None
    started: float
    ended: float
    duration_s: float
    artifacts: list[str] = Field(default_factory=list)
    reused: bool = False
    """The call was not made: an earlier plan's identical call, judged right, was reused."""


class Verdict(BaseModel):
    """How a run did against its task's check (`agentlab eval`); `error`: the check could
    not be run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    outcome: Literal["pass", "fail", "error"]
    check: str
    expected: str
    detail: str = ""
    suite: str | None = None
    ref_steps: int | None = None

    @property
    def passed(self) -> bool:
        return self.outcome == "pass"


class Graded(Verdict, Event):
    """The verdict `agentlab eval` wrote for the run, as a trace event."""

    type: Literal["verdict"] = "verdict"


class RecalledMemory(BaseModel):
    """One recalled memory: which, how relevant, and where it came from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    kind: str
    score: float
    provenance: dict[str, Any] | None = None


class MemoryRecalled(Event):
    """Long-term memories fetched for the task."""

    type: Literal["recall"] = "recall"
    seconds: float
    memories: list[RecalledMemory] = Field(default_factory=list)


class StoredMemory(BaseModel):
    """One memory the run stored, and whether it was added, merged or replaced."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    kind: str
    action: str


class MemoryStored(Event):
    """What the run stored in long-term memory."""

    type: Literal["remembered"] = "remembered"
    memories: list[StoredMemory] = Field(default_factory=list)


class MemoryFault(Event):
    """The memory store failed; the run went on without it."""

    type: Literal["memory_error"] = "memory_error"
    node: str
    detail: str


class HistoryTrimmed(Event):
    """A thread's earlier turns were summarised to keep the history in budget."""

    type: Literal["history_trimmed"] = "history_trimmed"
    cut: int
    kept: int


class Resumed(Event):
    """A killed run continued from its last checkpoint."""

    type: Literal["resumed"] = "resumed"
    thread_id: str | None = None
    next: list[str] = Field(default_factory=list)
    completed_steps: list[str] = Field(default_factory=list)
    paused_s: float = 0.0


class InternalError(Event):
    """An exception the runner caught; the run ends with status `error`."""

    type: Literal["error"] = "error"
    detail: str
    traceback: str = ""


class Footer(Event):
    """The last line: how the run ended and what it cost."""

    type: Literal["footer"] = "footer"
    status: RunStatus
    stop: StopReason
    status_detail: str = ""
    answer: str | None = None
    counters: Counters = Field(default_factory=Counters)
    seconds: float = 0.0
    failures: dict[str, int] = Field(default_factory=dict)
    """Failure events of the run per category."""
    verdict: Verdict | None = None
    """Set by `agentlab eval` when it grades the run."""
    cache: dict[str, int] | None = None
    """Response-cache `hits` and `misses` of the run, when a cache is on."""

    @property
    def finished(self) -> bool:
        """Whether the run ran to its end (an interrupted run did not)."""
        return self.stop.kind != "interrupted"


TraceEvent = Annotated[
    Header
    | NodeStep
    | PlanMade
    | Reflected
    | Joined
    | ModelCall
    | StructuredOutputChosen
    | ToolCall
    | FailureEvent
    | Graded
    | MemoryRecalled
    | MemoryStored
    | MemoryFault
    | HistoryTrimmed
    | Resumed
    | InternalError
    | Footer,
    Field(discriminator="type"),
]
"""Any trace event; `type` says which."""

EVENT_ADAPTER: TypeAdapter[TraceEvent] = TypeAdapter(TraceEvent)

UPGRADE_HINT = (
    "{where} was written by an older agentlab (trace format without schema_version); "
    "re-run it, or convert it with `agentlab traces upgrade {path}`"
)


def parse_event(data: dict[str, Any] | str | bytes) -> TraceEvent:
    """One event from its JSON form (a dict, or a trace line); raises `TraceError`."""
    try:
        if isinstance(data, dict):
            return EVENT_ADAPTER.validate_python(data)
        return EVENT_ADAPTER.validate_json(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'event'}: {e['msg']}" for e in exc.errors()[:3]
        )
        raise TraceError(f"not a trace event: {problems}") from None


def event_json(event: Event | FailureEvent) -> dict[str, Any]:
    """The JSON-ready form of an event, `type` first, as a trace line holds it."""
    data = event.model_dump(mode="json")
    return {"type": data.pop("type"), **data}
