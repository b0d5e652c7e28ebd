"""recall: begins the run (`lifecycle.begin`) and fetches memories.

Memory work here: a thread's history over its token budget is trimmed and the
cut turns summarised by the model; then the long-term memories most relevant
to the task go to `state["memories"]` for the planner's prompt.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Literal

from langchain_core.messages import AnyMessage, BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.types import Command, Overwrite

from agentlab import lifecycle
from agentlab.budget import budget_exhausted
from agentlab.errors import ModelError
from agentlab.events import HistoryTrimmed, MemoryFault, MemoryRecalled, RecalledMemory
from agentlab.memory import history
from agentlab.memory.long_term import Recalled
from agentlab.memory.runtime import run_memory
from agentlab.nodes.base import Node, traced_node
from agentlab.nodes.planner import HISTORY_MESSAGES
from agentlab.state import AgentState, Counters


class Recall(Node):
    name = "recall"

    @traced_node
    def __call__(self, state: AgentState, config: RunnableConfig) -> Command[Literal["planner"]]:
        update = lifecycle.begin(self.deps, state, config)
        task, task_id, run_id = update["task"], update["task_id"], update["run_id"]
        turn: HumanMessage = update["messages"][-1]
        begun: AgentState = {
            "task": task,
            "task_id": task_id,
            "run_id": run_id,
            "started_at": update["started_at"],
            # The thread's turns before this one (a chat turn is already among them).
            "messages": [m for m in state.get("messages") or [] if m.id != turn.id],
            "counters": Counters(),
        }
        earlier = self._keep_history_in_budget(begun, update, turn)
        update["memories"] = _summary_line(earlier) + self._recall(begun, config)
        return Command(update=update, goto="planner")

    def _keep_history_in_budget(
        self, state: AgentState, update: dict[str, Any], turn: HumanMessage
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
        update["messages"] = [*replaced, turn]
        deps.tracer.write(HistoryTrimmed(run_id=run_id, cut=len(cut.cut), kept=len(cut.kept)))
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
            fault = MemoryFault(run_id=state["run_id"], node=self.name, detail=repr(exc))
            self.deps.tracer.write(fault)
            return []
        self.deps.tracer.write(
            MemoryRecalled(
                run_id=state["run_id"],
                seconds=round(time.perf_counter() - started, 6),
                memories=[_recalled_memory(r) for r in recalled],
            )
        )
        return [r.memory.line() for r in recalled]


def _recalled_memory(recalled: Recalled) -> RecalledMemory:
    """One recalled memory in the `recall` trace event, with where it came from."""
    memory = recalled.memory
    provenance = memory.provenance.model_dump(mode="json") if memory.provenance else None
    return RecalledMemory(
        id=memory.id, kind=memory.kind.value, score=recalled.score, provenance=provenance
    )


def _summary_line(earlier: Sequence[BaseMessage]) -> list[str]:
    """The running summary, when the planner's window of recent messages no longer shows it."""
    summary = history.summary_of(earlier)
    if not summary or len(earlier) <= HISTORY_MESSAGES:
        return []
    return [f"conversation summary: {summary}"]
