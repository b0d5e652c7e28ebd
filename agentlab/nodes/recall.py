"""recall: begins a run (fresh run id, per-run state reset, trace header) and fetches memories.

Memory work here: a thread's history over its token budget is trimmed and the
cut turns summarised by the model; then the long-term memories most relevant
to the task go to `state["memories"]` for the planner's prompt.
"""

from __future__ import annotations

import functools
import importlib.metadata
import platform
import time
import uuid
from collections.abc import Sequence
from typing import Any, Literal

from langchain_core.messages import AnyMessage, BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.types import Command, Overwrite

from agentlab.budget import budget_exhausted
from agentlab.errors import ConfigError, ModelError
from agentlab.memory import history
from agentlab.memory.runtime import run_memory
from agentlab.nodes.base import AgentDeps, Node, traced_node
from agentlab.nodes.planner import HISTORY_MESSAGES
from agentlab.state import AgentState, Counters

RUN_ID_KEY = "run_id"
TASK_ID_KEY = "task_id"


@functools.cache
def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in ("agentlab", "langgraph", "langchain-core"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def begin_run(deps: AgentDeps, state: AgentState, config: RunnableConfig) -> dict[str, Any]:
    """Start a run: write the trace header and return the update that resets per-run fields.

    Shared with the baselines, so every architecture's trace starts alike.
    """
    task = (state.get("task") or "").strip()
    if not task:
        raise ConfigError('invoke the agent with a task: graph.invoke({"task": "..."})')
    configurable: dict[str, Any] = dict(config.get("configurable") or {})
    run_id = str(configurable.get(RUN_ID_KEY) or uuid.uuid4().hex)
    task_id = configurable.get(TASK_ID_KEY)
    deps.tracer.emit(
        run_id,
        "header",
        task=task,
        task_id=task_id,
        variant=deps.config.variant,
        config=deps.config.model_dump(mode="json"),
        model=deps.caller.name,
        structured_output=deps.caller.structured.label(),
        tools=deps.tools.names(),
        thread_id=configurable.get("thread_id"),
        versions=dict(_versions()),
    )
    # A new run on a thread starts from clean per-run fields; the messages
    # (the conversation) carry over.
    return {
        "task": task,
        "task_id": task_id,
        "run_id": run_id,
        "started_at": time.time(),
        "messages": [HumanMessage(content=task)],
        "memories": [],
        "plan": None,
        "plan_version": 0,
        "results": Overwrite({}),
        "past_calls": Overwrite({}),
        "reflections": Overwrite([]),
        "findings": [],
        "failures": Overwrite([]),
        "counters": Overwrite(Counters()),
        "answer": None,
        "status": "running",
        "status_detail": "",
    }


class Recall(Node):
    name = "recall"

    @traced_node
    def __call__(self, state: AgentState, config: RunnableConfig) -> Command[Literal["planner"]]:
        update = begin_run(self.deps, state, config)
        task, task_id, run_id = update["task"], update["task_id"], update["run_id"]
        begun: AgentState = {
            "task": task,
            "task_id": task_id,
            "run_id": run_id,
            "started_at": update["started_at"],
            "messages": list(state.get("messages") or []),
            "counters": Counters(),
        }
        earlier = self._keep_history_in_budget(begun, update)
        update["memories"] = _summary_line(earlier) + self._recall(begun, config)
        return Command(update=update, goto="planner")

    def _keep_history_in_budget(
        self, state: AgentState, update: dict[str, Any]
    ) -> list[AnyMessage]:
        """Trim the thread's earlier messages to the budget, summarising what is cut; returns
        the earlier messages the run goes on with."""
        earlier: list[AnyMessage] = list(state.get("messages") or [])
        cut = history.overflow(earlier, self.deps.memory.history_tokens)
        deps, run_id = self.deps, state["run_id"]
        if cut is None or budget_exhausted(state, deps.config.budgets, llm_calls=1):
            return earlier
        try:
            reply = deps.caller.complete(
                history.summary_request(cut), schema=None, node=self.name, run_id=run_id
            )
        except ModelError as exc:
            failure = deps.failure(state, exc.category, exc.message, node=self.name)
            update["failures"] = Overwrite([failure])
            return earlier
        update["counters"] = Overwrite(
            Counters(llm_calls=1, tokens_in=reply.tokens_in, tokens_out=reply.tokens_out)
        )
        replaced = history.replace_history(reply.text, cut.kept)
        update["messages"] = [*replaced, HumanMessage(content=state["task"])]
        deps.tracer.emit(run_id, "history_trimmed", cut=len(cut.cut), kept=len(cut.kept))
        return list(replaced[1:])  # type: ignore[arg-type]

    def _recall(self, state: AgentState, config: RunnableConfig) -> list[str]:
        """Lines for the planner: the long-term memories most relevant to the task."""
        if not self.deps.config.memory:
            return []
        memory = run_memory(self.deps.memory, config)
        if memory is None:
            return []
        started = time.perf_counter()
        try:
            recalled = memory.recall(state["task"])
        except Exception as exc:  # a broken store must not stop the run
            self.deps.tracer.emit(state["run_id"], "memory_error", node=self.name, detail=repr(exc))
            return []
        self.deps.tracer.emit(
            state["run_id"],
            "recall",
            seconds=round(time.perf_counter() - started, 6),
            memories=[
                {"id": r.memory.id, "kind": r.memory.kind.value, "score": r.score} for r in recalled
            ],
        )
        return [r.memory.line() for r in recalled]


def _summary_line(earlier: Sequence[BaseMessage]) -> list[str]:
    """The running summary, when the planner's window of recent messages no longer shows it."""
    summary = history.summary_of(earlier)
    if not summary or len(earlier) <= HISTORY_MESSAGES:
        return []
    return [f"conversation summary: {summary}"]
