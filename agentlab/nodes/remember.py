"""remember: stores what is worth keeping, then ends the run (trace footer).

Kept after each run when long-term memory is on: a lesson when the run hit
failures, the plan that answered, and the facts the user stated in the task.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Literal

from langchain_core.runnables import RunnableConfig
from langgraph.types import Command

from agentlab.memory.facts import stated_facts
from agentlab.memory.lessons import lesson_text, plan_text
from agentlab.memory.long_term import LongTermMemory, MemoryKind
from agentlab.memory.runtime import run_memory
from agentlab.nodes.base import Node, trace_node_step
from agentlab.state import AgentState, Counters
from agentlab.trace import Tracer


class Remember(Node):
    name = "remember"

    def __call__(self, state: AgentState, config: RunnableConfig) -> Command[Literal["__end__"]]:
        # Not @traced_node: the footer must be the trace's last line.
        started = time.perf_counter()
        command: Command[Literal["__end__"]] = Command(goto="__end__")
        if self.deps.config.memory:
            memory = run_memory(self.deps.memory, config)
            if memory is not None:
                self._store(memory, state)
        trace_node_step(self, state, command, time.perf_counter() - started)
        self._end_run(state)
        return command

    def _store(self, memory: LongTermMemory, state: AgentState) -> None:
        """Write this run's lesson, plan and stated facts; a broken store never fails the run."""
        run_id = state.get("run_id", "unknown")
        task = state.get("task", "")
        wanted: list[tuple[MemoryKind, str, str | None]] = []
        if lesson := lesson_text(state):
            wanted.append((MemoryKind.LESSON, lesson, None))
        if plan := plan_text(state):
            wanted.append((MemoryKind.PLAN, plan, None))
        wanted.extend((MemoryKind.FACT, f.text, f.subject) for f in stated_facts(task))
        stored = []
        for kind, text, subject in wanted:
            try:
                result = memory.remember(kind, text, subject=subject, task=task, source_run=run_id)
            except Exception as exc:
                self.deps.tracer.emit(run_id, "memory_error", node=self.name, detail=repr(exc))
                return
            stored.append({"id": result.memory.id, "kind": kind.value, "action": result.action})
        if stored:
            self.deps.tracer.emit(run_id, "remembered", memories=stored)

    def _end_run(self, state: AgentState) -> None:
        cache = self.deps.caller.cache_counts(state.get("run_id", "unknown"))
        write_footer(self.deps.tracer, state, cache=cache)


def write_footer(tracer: Tracer, state: AgentState, *, cache: dict[str, int] | None = None) -> None:
    """End the run's trace with its footer (the baselines end theirs the same way).

    `cache`: the response cache's hits and misses, when the run had one.
    """
    run_id = state.get("run_id", "unknown")
    counters = state.get("counters") or Counters()
    failures = state.get("failures") or []
    extra = {"cache": cache} if cache is not None else {}
    tracer.emit(
        run_id,
        "footer",
        status=state.get("status"),
        status_detail=state.get("status_detail", ""),
        answer=state.get("answer"),
        counters=counters.model_dump(),
        seconds=round(time.time() - state.get("started_at", time.time()), 3),
        failures=dict(Counter(str(f.category) for f in failures)),
        **extra,
    )
    tracer.close(run_id)
