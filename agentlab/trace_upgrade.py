"""Converting traces of the format before typed events (v1) into the current one.

agentlab 0.1 wrote untyped events: no `schema_version` in the header, a
node's plan and reflection inside its `node` event, footers without a `stop`
(a status and a sentence only). The v1 events whose shape differs have typed
models here (`V1Header`, `V1Node`, `V1Footer`; the rest were already in their
current shape), and `upgrade_events` turns them into `agentlab.events`:

* the header gains `schema_version` and its `architecture` (from its config);
* a `node` event that carried a plan or a reflection is preceded by a `plan`
  (`source="plan"`, numbered in order) or `reflection` event, and loses them;
* each footer gains the typed stop its status stands for: the budget, its use
  and limit read back from the sentence v1 wrote (`budget exhausted: LLM calls:
  12 of 12 used`); an error's category from the run's last `model.*` failure;
  `interrupted` for an interrupted run.

`upgrade_file` rewrites a file in place (a temporary file, then a rename) or
into another folder (where a current trace is copied as it is); a file that is
no trace is left alone.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, assert_never

from pydantic import Field, TypeAdapter, ValidationError

from agentlab.errors import TraceError
from agentlab.events import (
    SCHEMA_VERSION,
    Event,
    Footer,
    Graded,
    Header,
    HistoryTrimmed,
    InternalError,
    MemoryFault,
    MemoryRecalled,
    MemoryStored,
    ModelCall,
    NodeStep,
    PlanMade,
    Reflected,
    Resumed,
    ToolCall,
    TraceEvent,
    Verdict,
    event_json,
    header_version,
    problems,
)
from agentlab.failures import FailureCategory, FailureEvent
from agentlab.jsonl import numbered_lines
from agentlab.private_files import open_private, private_dir
from agentlab.redaction import Redactor, env_secrets
from agentlab.schemas import Plan, Reflection
from agentlab.state import Counters, RunStatus
from agentlab.stops import Answered, Budget, BudgetName, Errored, Interrupted, NoAnswer, StopReason

V1_BUDGET = re.compile(
    r"budget exhausted: (?P<name>LLM calls|steps|tokens|time|replans): "
    r"(?P<used>\d+(?:\.\d+)?)(?: s)? of (?P<limit>\d+(?:\.\d+)?)"
)
"""The sentence v1 wrote for a budget stop (agentlab 0.1's `budget.py`)."""

V1_BUDGET_NAMES: dict[str, BudgetName] = {
    "LLM calls": "llm_calls",
    "steps": "steps",
    "tokens": "tokens",
    "time": "time",
    "replans": "replans",
}
V1_INTERRUPTED = "interrupted"
V1_NO_ANSWER = "the run ended without an answer"


class V1Header(Event):
    """The v1 header: today's without `schema_version` and `architecture`."""

    type: Literal["header"] = "header"
    task: str
    task_id: str | None = None
    variant: str
    config: dict[str, Any]
    model: str
    tools: list[str]
    thread_id: str | None = None
    versions: dict[str, str] = Field(default_factory=dict)


class V1Node(NodeStep):
    """The v1 node step: the plan and reflection it made rode inside it."""

    plan: Plan | None = None
    reflection: Reflection | None = None


class V1Footer(Event):
    """The v1 footer: a status and a sentence, no typed stop (the runner's own footer, for
    a run it could not finish, had no seconds and no failure counts)."""

    type: Literal["footer"] = "footer"
    status: RunStatus
    status_detail: str = ""
    answer: str | None = None
    counters: Counters = Field(default_factory=Counters)
    seconds: float = 0.0
    failures: dict[str, int] = Field(default_factory=dict)
    verdict: Verdict | None = None


V1Event = Annotated[
    V1Header
    | V1Node
    | ModelCall
    | ToolCall
    | FailureEvent
    | Graded
    | MemoryRecalled
    | MemoryStored
    | MemoryFault
    | HistoryTrimmed
    | Resumed
    | InternalError
    | V1Footer,
    Field(discriminator="type"),
]
"""Any v1 event: the types whose shape changed have a model here, the rest are today's."""

V1_ADAPTER: TypeAdapter[V1Event] = TypeAdapter(V1Event)

Outcome = Literal["upgraded", "current", "not a trace"]


@dataclass(frozen=True, slots=True)
class Upgraded:
    """What `upgrade_file` did with one file."""

    source: Path
    target: Path
    outcome: Outcome
    events: int = 0
    """Events written (upgraded files only)."""


def upgrade_events(lines: list[Any], *, where: str = "trace") -> list[TraceEvent]:
    """A v1 trace's events (its parsed JSON lines, in order) in the current format.

    Raises `TraceError` naming the line for anything that cannot be converted.
    """
    upgraded: list[TraceEvent] = []
    plans: Counter[str] = Counter()
    model_errors: dict[str, FailureCategory] = {}
    for number, raw in enumerate(lines, 1):
        try:
            old = V1_ADAPTER.validate_python(raw)
            upgraded.extend(_upgraded(old, plans, model_errors))
        except ValidationError as exc:
            raise TraceError(f"{where}:{number}: not a v1 event: {problems(exc)}") from None
        except TraceError as exc:
            raise TraceError(f"{where}:{number}: {exc}") from None
    return upgraded


def _upgraded(
    old: V1Event, plans: Counter[str], model_errors: dict[str, FailureCategory]
) -> list[TraceEvent]:
    match old:
        case V1Header():
            architecture = old.config.get("architecture")
            return [
                Header(
                    **old.model_dump(exclude={"type"}),
                    schema_version=SCHEMA_VERSION,
                    architecture=architecture if isinstance(architecture, str) else "agentlab",
                )
            ]
        case V1Node():
            return _node(old, plans)
        case FailureEvent() if old.category.family == "model":
            model_errors[old.run_id or "unknown"] = old.category
            return [old]
        case V1Footer():
            stop = _stop(old.status, old.status_detail, model_errors.get(old.run_id))
            return [Footer(**old.model_dump(exclude={"type"}), stop=stop)]
        case _:
            return [old]


def _node(old: V1Node, plans: Counter[str]) -> list[TraceEvent]:
    made: list[TraceEvent] = []
    if old.plan is not None:
        plans[old.run_id] += 1
        made.append(
            PlanMade(
                run_id=old.run_id,
                time=old.time,
                node=old.node,
                version=plans[old.run_id],
                plan=old.plan,
            )
        )
    if old.reflection is not None:
        made.append(
            Reflected(run_id=old.run_id, time=old.time, node=old.node, reflection=old.reflection)
        )
    step = NodeStep(**old.model_dump(exclude={"type", "plan", "reflection"}))
    return [*made, step]


def _stop(status: RunStatus, detail: str, model_error: FailureCategory | None) -> StopReason:
    match status:
        case "answered":
            return Answered()
        case "no_answer":
            return NoAnswer(detail=detail or V1_NO_ANSWER)
        case "budget_exhausted":
            found = V1_BUDGET.search(detail)
            if found is None:
                raise TraceError(f"a budget stop whose budget cannot be read: {detail!r}")
            return Budget(
                budget=V1_BUDGET_NAMES[found["name"]],
                used=float(found["used"]),
                limit=float(found["limit"]),
            )
        case "error" if detail == V1_INTERRUPTED:
            return Interrupted()
        case "error":
            return Errored(detail=detail, category=model_error)
        case "running":
            raise TraceError("a footer of a run still running")
        case _:
            assert_never(status)


def _json_lines(path: Path) -> list[Any]:
    """The parsed lines of a file (blank lines and a torn last line left out)."""
    text = numbered_lines(path.read_text(encoding="utf-8", errors="replace"))
    lines: list[Any] = []
    for number, line in text:
        try:
            lines.append(json.loads(line))
        except json.JSONDecodeError:
            if number == text[-1][0] and lines:
                break  # torn by a kill while it was written
            raise TraceError(f"{path}:{number}: not JSON") from None
    return lines


def upgrade_file(path: Path, target: Path | None = None) -> Upgraded:
    """Convert one v1 trace into the current format, in place or into `target`.

    A trace already current, or a file that is no trace (a cassette, a suite), is
    left alone. Raises `TraceError` for a v1 trace that cannot be converted (nothing
    is written then).
    """
    destination = target or path
    try:
        lines = _json_lines(path)
    except TraceError:
        return Upgraded(path, destination, "not a trace")
    version = header_version(lines[0]) if lines else None
    if version is None:
        return Upgraded(path, destination, "not a trace")
    if version >= SCHEMA_VERSION:
        if destination != path:  # --out gets every trace, current ones as they are
            _write(destination, path.read_text(encoding="utf-8"))
        return Upgraded(path, destination, "current")
    events = upgrade_events(lines, where=str(path))
    redactor = Redactor(env_secrets())
    _write(
        destination,
        "".join(json.dumps(redactor(event_json(e)), ensure_ascii=False) + "\n" for e in events),
    )
    return Upgraded(path, destination, "upgraded", len(events))


def _write(destination: Path, text: str) -> None:
    """`text` into `destination`, owner-only, whole or not at all (a rename)."""
    private_dir(destination.parent)
    partial = destination.with_name(f".{destination.name}.upgrading")
    with open_private(partial, "w") as handle:
        handle.write(text)
    os.replace(partial, destination)
