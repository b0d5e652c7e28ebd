"""A run's lifecycle in one place: begin, stop, settle, end.

Every architecture (agentlab's graph and the baselines) starts, stops and ends
a run through these functions, so every trace starts with the same header and
ends with the same footer, and "stop the run" is one typed value:

* `begin` writes the header and resets the per-run fields of the state;
* `stop` is the update a node returns to end the run for a `StopReason`
  (a budget stop also records `efficiency.budget_exhausted`);
* `settle` applies the final-answer rules once the graph is done;
* `end` releases per-run tool resources and writes the footer, the trace's
  last line (the runner calls it too, for a run the graph could not finish).
"""

from __future__ import annotations

import functools
import importlib.metadata
import platform
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.types import Overwrite

from agentlab.errors import ConfigError
from agentlab.events import Footer, Header
from agentlab.failures import FailureCategory, FailureEvent
from agentlab.guardrails.masking import mask_text
from agentlab.state import AgentState, Counters
from agentlab.stops import Answered, Budget, NoAnswer, StopReason, describe, status_of
from agentlab.tools.base import RunScoped
from agentlab.tools.registry import ToolRegistry

if TYPE_CHECKING:
    from agentlab.nodes.base import AgentDeps

NO_ANSWER = "the run ended without an answer"
EMPTY_TASK = (
    'invoke the agent with a task: graph.invoke({"task": "..."}), '
    'or {"messages": [{"role": "user", "content": "..."}]}'
)


@functools.cache
def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in ("agentlab", "langgraph", "langchain-core"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def begin(deps: AgentDeps, state: AgentState, config: RunnableConfig) -> dict[str, Any]:
    """Start a run: write the trace header and return the update that resets per-run fields.

    A new run on a thread starts from clean per-run fields; the messages (the
    conversation) carry over.
    """
    from agentlab.context import run_context

    task, turn = current_turn(state)
    if not task:
        raise ConfigError(EMPTY_TASK)
    context = run_context(config)
    run_id = context.run_id or uuid.uuid4().hex
    masked = mask_text(task) if masks_input(deps) else None
    noted: list[FailureEvent] = []
    if masked is not None and masked.vault:
        task = masked.text
        turn = turn.model_copy(update={"content": task})
        kinds = ", ".join(k.lower() for k in masked.kinds)
        noted.append(
            FailureEvent(
                category=FailureCategory.GUARDRAIL_INPUT_MASKED,
                detail=f"masked in the task before anything saw it: {kinds}",
                node="recall",
                run_id=run_id,
                task_id=context.task_id,
                variant=deps.config.variant,
            )
        )
    deps.tracer.write(
        Header(
            run_id=run_id,
            task=task,
            task_id=context.task_id,
            variant=deps.config.variant,
            architecture=deps.config.architecture,
            config=deps.config.model_dump(mode="json"),
            model=deps.caller.name,
            structured_output=deps.caller.structured.label(),
            tools=deps.tools.names(),
            thread_id=context.thread_id,
            versions=dict(_versions()),
        )
    )
    return {
        "task": task,
        "task_id": context.task_id,
        "run_id": run_id,
        "started_at": time.time(),
        # The turn as a message: appended for a `task`, re-written in place (same id) for
        # a chat turn already in the messages.
        "messages": [turn],
        "turn_id": turn.id,
        "memories": [],
        "plan": None,
        "plan_version": 0,
        "results": Overwrite({}),
        "past_calls": Overwrite({}),
        "reflections": Overwrite([]),
        "candidates": [],
        "valid_candidates": [],
        "prior_calls": {},
        "rejected": Overwrite([]),
        "code_attempts": Overwrite([]),
        "round_note": "",
        "findings": [],
        "failures": Overwrite(noted),
        "approvals": Overwrite({}),
        "awaiting": None,
        "effects": Overwrite([]),
        "vault": masked.vault if masked is not None else {},
        "answer_feedback": "",
        "counters": Overwrite(Counters()),
        "answer": None,
        "stop": None,
        "status": "running",
        "status_detail": "",
    }


LOCAL_MODELS = ("local:", "replay:")
"""Model specs whose requests stay on this machine: masking is off for them unless asked."""


def masks_input(deps: AgentDeps) -> bool:
    """Whether the task is masked: guardrails on, and `masking` (None: a model elsewhere)."""
    config = deps.config
    if not config.guardrails:
        return False
    if config.masking is not None:
        return config.masking
    return not deps.caller.name.startswith(LOCAL_MODELS)


def current_turn(state: AgentState) -> tuple[str, HumanMessage]:
    """The task of the run that starts now, and the human message it stands as.

    Chat-style input: the last human message is the task when no run on the thread
    started from it (its id is not the last run's `turn_id`); a fresh thread given both
    `task` and `messages` takes `task` (the messages are history). Otherwise the task is
    `task`, as a new message. A thread from before `turn_id` existed takes `task`.
    """
    messages = state.get("messages") or []
    human = next((m for m in reversed(messages) if isinstance(m, HumanMessage)), None)
    task = (state.get("task") or "").strip()
    if human is not None and human.id is not None:
        previous = state.get("turn_id")
        fresh = not state.get("run_id")
        if (fresh and not task) or (previous is not None and human.id != previous):
            return human.text.strip(), human
    return task, HumanMessage(content=task, id=uuid.uuid4().hex)


def stop(
    deps: AgentDeps,
    state: AgentState,
    reason: StopReason,
    *,
    node: str,
    failures: Sequence[FailureEvent] = (),
) -> dict[str, Any]:
    """The update that ends the run for `reason`; `failures` are the node's own events.

    A budget stop records `efficiency.budget_exhausted` (with the budget in its detail).
    """
    events = list(failures)
    if isinstance(reason, Budget):
        events.append(
            deps.failure(
                state, FailureCategory.EFFICIENCY_BUDGET_EXHAUSTED, reason.describe(), node=node
            )
        )
    update: dict[str, Any] = {
        "stop": reason,
        "status": status_of(reason),
        "status_detail": describe(reason),
    }
    if events:
        update["failures"] = events
    return update


def settle(deps: AgentDeps, state: AgentState, answer: str | None, *, node: str) -> dict[str, Any]:
    """The final-answer rules, shared by every architecture.

    A stopped run has no answer. Otherwise `answer` (stripped) settles it; a run
    that ends without one is `no_answer` with a `goal.no_answer` failure.
    """
    if state.get("stop") is not None or state.get("status", "running") != "running":
        return {"answer": None}
    text = (answer or "").strip()
    if text:
        return {
            "answer": text,
            "stop": Answered(),
            "status": "answered",
            "messages": [AIMessage(content=text)],
        }
    failure = deps.failure(state, FailureCategory.GOAL_NO_ANSWER, NO_ANSWER, node=node)
    return stop(deps, state, NoAnswer(detail=NO_ANSWER), node=node, failures=[failure])


def release_tools(tools: ToolRegistry, run_id: str | None) -> None:
    """Release what tools hold for the run (sandbox sessions)."""
    if not run_id:
        return
    for tool in tools:
        if isinstance(tool, RunScoped):
            tool.end_run(run_id)


def footer(
    state: AgentState | dict[str, Any],
    reason: StopReason | None = None,
    *,
    cache: dict[str, int] | None = None,
) -> Footer:
    """The footer of a run in `state` (`reason` overrides the state's stop); `cache`: the
    run's response-cache hits and misses, when a cache is on."""
    stop_reason: StopReason = reason or state.get("stop") or NoAnswer(detail=NO_ANSWER)
    failures: list[FailureEvent] = list(state.get("failures") or [])
    started = state.get("started_at")
    return Footer(
        run_id=str(state.get("run_id") or "unknown"),
        status=status_of(stop_reason),
        stop=stop_reason,
        status_detail=describe(stop_reason),
        answer=state.get("answer") if status_of(stop_reason) == "answered" else None,
        counters=state.get("counters") or Counters(),
        seconds=round(time.time() - started, 3) if started else 0.0,
        failures=dict(Counter(str(f.category) for f in failures)),
        cache=cache,
        effects=list(state.get("effects") or []),
    )


def end(
    deps: AgentDeps, state: AgentState | dict[str, Any], reason: StopReason | None = None
) -> Footer:
    """End the run: release its tool resources, write the footer, close the trace."""
    run_id = str(state.get("run_id") or "unknown")
    release_tools(deps.tools, run_id)
    last = footer(state, reason, cache=deps.caller.cache_counts(run_id))
    deps.tracer.write(last)
    deps.tracer.close(last.run_id)
    return last
