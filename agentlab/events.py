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

from agentlab.approvals import ApprovalDecision, ApprovalRequest
from agentlab.effects import Effect
from agentlab.errors import TraceError
from agentlab.failures import FailureEvent, utc_now
from agentlab.schemas import Plan, Reflection
from agentlab.state import Counters, RunStatus, StepStatus
from agentlab.stops import StopReason

SCHEMA_VERSION = 2
"""Version 1 is the untyped format of agentlab 0.1 (no `schema_version` in the header)."""

Route: TypeAlias = str | list[str] | None
"""Where a node step routed: one node, several (a fan-out), or nowhere (the end)."""
JoinReason: TypeAlias = Literal[
    "clean",
    "always",
    "failed_steps",
    "unresolved_answer",
    "no_template",
    "not_usable",
    "examples_failed",
    "examples_passed",
    "untested",
    "budget",
]
"""Why the joiner decided as it did (see `Joined`)."""


class Event(BaseModel):
    """What every event carries: the run it belongs to and when it was written."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    run_id: str
    """The run's id (names its trace file)."""
    time: str = Field(default_factory=utc_now)
    """When the event was written: ISO-8601, UTC, microseconds."""


class Header(Event):
    """The first line: what ran, on what, with which switches."""

    type: Literal["header"] = "header"
    schema_version: int = SCHEMA_VERSION
    """The trace format (2; a header without it is agentlab 0.1's format)."""
    task: str
    """The task as given."""
    task_id: str | None = None
    """The task's id in a suite (evaluations)."""
    variant: str
    """The variant's name (`full`, `no-validator`, `no-x+no-y` for several)."""
    architecture: str = "agentlab"
    """Which graph ran: `agentlab`, or a baseline (`react`, `direct`)."""
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
    """The conversation thread the run is on, if any."""
    versions: dict[str, str] = Field(default_factory=dict)
    """Versions of Python, agentlab, LangGraph and langchain-core."""


class NodeStep(Event):
    """One step of a graph node: how long it took, where it routed, what it changed."""

    type: Literal["node"] = "node"
    node: str
    """The node's name."""
    duration_s: float
    """Seconds the step took."""
    goto: Route = None
    """Where it routed: a node, several, or none."""
    steps: list[str] = Field(default_factory=list)
    """Ids of the steps whose results this node step recorded."""
    findings: list[str] = Field(default_factory=list)
    """What it sent back to the planner to fix (validator findings, tool errors, critique)."""
    status: RunStatus | None = None
    """The run status it set, if it set one."""
    answer: str | None = None
    """The answer it set, if it set one."""
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
    """The node that made it."""
    source: Literal["plan", "action", "answer"] = "plan"
    """`plan`: a planner's whole plan; `action`: one tool call of a loop; `answer`: the calls a
    tool-less answer wrote."""
    version: int = 1
    """1 for the run's first plan (or action), then counting up."""
    plan: Plan
    """The steps (see the plan contract above)."""
    candidate: int | None = None
    """With several candidate plans per round: which one this is (1-based)."""


class Reflected(Event):
    """A reflector's decision on the results in hand."""

    type: Literal["reflection"] = "reflection"
    node: str
    """The node that reflected."""
    reflection: Reflection
    """Its decision, answer and critique (see the reflection contract above)."""


class CandidateOutcome(BaseModel):
    """One candidate plan's fate in a round of several."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    candidate: int
    """Which candidate (1-based, in the order the planner wrote them)."""
    valid: bool
    """Whether the validator passed it (only valid candidates run)."""
    answer: str | None = None
    """What its answer template gave once it ran (None: it did not resolve)."""
    chosen: bool = False
    """Whether it became the round's plan."""
    why: str = ""
    """Why it was chosen or lost (the vote, an invalid plan, a failed step)."""


class Joined(Event):
    """What the joiner decided once a plan had run, and why (no model call is made here).

    `decision`: `answer` (the template gave a usable answer), `reflect` (the reflector
    judges), `plan` (the planner goes again: a partial plan, or failures to fix). `reason`
    names the case; `template_answer` is what the template gave, so a report can tell
    whether a later reflection changed the outcome.
    """

    type: Literal["join"] = "join"
    node: str = "joiner"
    """The node that joined."""
    decision: Literal["answer", "reflect", "plan"]
    """Where the run went: the finalizer, the reflector or the planner."""
    reason: JoinReason
    """The case that decided it."""
    template_answer: str | None = None
    """What the plan's answer template gave (None: no template, or it did not resolve)."""
    detail: str = ""
    """A sentence on the case (the failed step, the reference that did not resolve)."""
    candidates: list[CandidateOutcome] = Field(default_factory=list)
    """With several candidate plans: each one's answer, and which was chosen and why."""


class ModelCall(Event):
    """One request to the model and its reply."""

    type: Literal["model_call"] = "model_call"
    node: str
    """The node that asked."""
    model: str
    """The model spec."""
    messages: list[dict[str, Any]]
    """The request: `role` and `content` per message."""
    reply: str
    """The reply's text."""
    tokens_in: int
    """Prompt tokens."""
    tokens_out: int
    """Completion tokens."""
    latency_s: float
    """Seconds the call took."""
    tokens_estimated: bool = False
    """The backend reported no usage; tokens were estimated from the text."""
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
    """The mode chosen: `json_schema`, `json_object`, `prompt`, `grammar` or `provider`."""
    server: str | None = None
    """The server's base URL (None for an in-process model)."""
    rejected: list[dict[str, str]] = Field(default_factory=list)
    """The modes the server refused first, with its words."""


class ToolCall(Event):
    """One tool call and its result (arguments after `${id}` substitution)."""

    type: Literal["tool_call"] = "tool_call"
    step_id: str
    """The plan step (or `react` action) the call ran."""
    item: int | None = None
    """The item's index (from 0) when the call is one item of a fan-out (`for_each`)."""
    tool: str
    """The tool's name."""
    args: dict[str, Any]
    """The arguments the tool received."""
    status: StepStatus
    """How the call ended (`skipped`: the step's `when` condition was false, or it needs
    only steps whose condition was; no call was made)."""
    output: str
    """What the model reads (the error message when it failed)."""
    data: Any = None
    """The tool's typed result, as JSON."""
    started: float
    """Unix time the call started."""
    ended: float
    """Unix time it ended."""
    duration_s: float
    """Seconds it took."""
    artifacts: list[str] = Field(default_factory=list)
    """Paths of the files it produced, saved beside the trace."""
    reused: bool = False
    """The call was not made: an earlier plan's identical call, judged right, was reused."""


class Verdict(BaseModel):
    """How a run did against its task's check (`agentlab eval`); `error`: the check could
    not be run."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    outcome: Literal["pass", "fail", "error"]
    """`pass`, `fail`, or `error` (the check could not run)."""
    check: str
    """The check's kind (`numeric`, `exact`, `code_tests`, `bfcl`, ...)."""
    expected: str
    """What the check expected, as text."""
    detail: str = ""
    """Why it failed."""
    suite: str | None = None
    """The suite's name."""
    ref_steps: int | None = None
    """The task's reference plan length."""

    @property
    def passed(self) -> bool:
        return self.outcome == "pass"


class Graded(Verdict, Event):
    """The verdict `agentlab eval` wrote for the run, as a trace event."""

    type: Literal["verdict"] = "verdict"


class RecalledMemory(BaseModel):
    """One recalled memory: which, how relevant, and where it came from."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    id: str
    """The memory's id."""
    kind: str
    """`lesson`, `plan` or `fact`."""
    score: float
    """Its relevance to the task (cosine, or BM25 when lexical)."""
    provenance: dict[str, Any] | None = None
    """Who wrote it: run, kind and source (`user` or `agent`); None for older memories."""


class MemoryRecalled(Event):
    """Long-term memories fetched for the task."""

    type: Literal["recall"] = "recall"
    seconds: float
    """Seconds recall took."""
    memories: list[RecalledMemory] = Field(default_factory=list)
    """What was recalled, best first."""


class StoredMemory(BaseModel):
    """One memory the run stored, and whether it was added, merged or replaced."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    id: str
    """The memory's id."""
    kind: str
    """`lesson`, `plan` or `fact`."""
    action: str
    """`added`, `merged` or `replaced`."""


class MemoryStored(Event):
    """What the run stored in long-term memory."""

    type: Literal["remembered"] = "remembered"
    memories: list[StoredMemory] = Field(default_factory=list)
    """The memories stored."""


class MemoryFault(Event):
    """The memory store failed; the run went on without it."""

    type: Literal["memory_error"] = "memory_error"
    node: str
    """The node that met the failure (`recall` or `remember`)."""
    detail: str
    """The store's error."""


class HistoryTrimmed(Event):
    """A thread's earlier turns were summarised to keep the history in budget."""

    type: Literal["history_trimmed"] = "history_trimmed"
    cut: int
    """Messages summarised away."""
    kept: int
    """Messages kept as they were."""


class EffectMade(Event):
    """A write action changed something outside the run (a file written, a message queued)."""

    type: Literal["effect"] = "effect"
    effect: Effect
    """What it changed."""


class ApprovalDecided(Event):
    """A person (or the runner's approver) answered a write step's approval request."""

    type: Literal["approval"] = "approval"
    request: ApprovalRequest
    """What was asked: the step, its tool and arguments, the plan's reason, any warnings."""
    decision: ApprovalDecision
    """The answer: approve, edit (with the arguments that run) or reject."""


class Resumed(Event):
    """A killed run continued from its last checkpoint."""

    type: Literal["resumed"] = "resumed"
    thread_id: str | None = None
    """The thread the run is on."""
    next: list[str] = Field(default_factory=list)
    """The node(s) the run resumes at."""
    completed_steps: list[str] = Field(default_factory=list)
    """Steps already done, not run again."""
    paused_s: float = 0.0
    """Seconds the run lay dead (not counted against its time budget)."""


class InternalError(Event):
    """An exception the runner caught; the run ends with status `error`."""

    type: Literal["error"] = "error"
    detail: str
    """What went wrong."""
    traceback: str = ""
    """The Python traceback."""


class Footer(Event):
    """The last line: how the run ended and what it cost."""

    type: Literal["footer"] = "footer"
    status: RunStatus
    """`answered`, `no_answer`, `budget_exhausted` or `error`."""
    stop: StopReason
    """Why the run stopped, as data (the stop reasons below)."""
    status_detail: str = ""
    """The stop, as a sentence."""
    answer: str | None = None
    """The final answer (answered runs only)."""
    counters: Counters = Field(default_factory=Counters)
    """The run's totals."""
    seconds: float = 0.0
    """Wall-clock seconds the run took (time it lay dead excluded)."""
    failures: dict[str, int] = Field(default_factory=dict)
    """Failure events of the run per category."""
    verdict: Verdict | None = None
    """Set by `agentlab eval` when it grades the run."""
    cache: dict[str, int] | None = None
    """Response-cache `hits` and `misses` of the run, when a cache is on."""
    effects: list[Effect] = Field(default_factory=list)
    """What the run's write actions changed, in order."""

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
    | EffectMade
    | ApprovalDecided
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


def problems(exc: ValidationError) -> str:
    """The first few problems of a failed validation, as one line."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'event'}: {e['msg']}" for e in exc.errors()[:3]
    )


def parse_event(data: dict[str, Any] | str | bytes) -> TraceEvent:
    """One event from its JSON form (a dict, or a trace line); raises `TraceError`."""
    try:
        if isinstance(data, dict):
            return EVENT_ADAPTER.validate_python(data)
        return EVENT_ADAPTER.validate_json(data)
    except ValidationError as exc:
        raise TraceError(f"not a trace event: {problems(exc)}") from None


class _HeaderVersion(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["header"]
    schema_version: int = 1


def header_version(data: object) -> int | None:
    """The format version of a trace whose first line parses to `data`: `schema_version`,
    1 for a header without one (agentlab 0.1); None when `data` is no header."""
    try:
        return _HeaderVersion.model_validate(data).schema_version
    except ValidationError:
        return None


def event_json(event: Event | FailureEvent) -> dict[str, Any]:
    """The JSON-ready form of an event, `type` first, as a trace line holds it."""
    data = event.model_dump(mode="json")
    return {"type": data.pop("type"), **data}
