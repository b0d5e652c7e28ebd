"""remember: stores what is worth keeping, then ends the run (`lifecycle.end`: the footer).

Kept after each run when long-term memory is on: a lesson when the run hit
failures, the plan that answered (both only what the agent decided, never tool
output: see `agentlab.memory.lessons`), and the facts the user stated in the
task. Each memory records its provenance: this run, its kind, and its source.
"""

from __future__ import annotations

import time
from typing import Literal

from langchain_core.runnables import RunnableConfig
from langgraph.types import Command

from agentlab import lifecycle
from agentlab.events import MemoryFault, MemoryStored, StoredMemory
from agentlab.memory.facts import stated_facts
from agentlab.memory.lessons import lesson_text, plan_text
from agentlab.memory.long_term import LongTermMemory, MemoryKind, Source
from agentlab.memory.runtime import run_memory
from agentlab.nodes.base import Node, trace_node_step
from agentlab.state import AgentState


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
        lifecycle.end(self.deps, state)
        return command

    def _store(self, memory: LongTermMemory, state: AgentState) -> None:
        """Write this run's lesson, plan and stated facts; a broken store never fails the run."""
        run_id = state.get("run_id", "unknown")
        task = state.get("task", "")
        wanted: list[tuple[MemoryKind, str, str | None, Source]] = []
        if lesson := lesson_text(state):
            wanted.append((MemoryKind.LESSON, lesson, None, "agent"))
        if plan := plan_text(state):
            wanted.append((MemoryKind.PLAN, plan, None, "agent"))
        wanted.extend((MemoryKind.FACT, f.text, f.subject, "user") for f in stated_facts(task))
        stored = []
        for kind, text, subject, source in wanted:
            try:
                result = memory.remember(
                    kind, text, subject=subject, task=task, source_run=run_id, source=source
                )
            except Exception as exc:
                fault = MemoryFault(run_id=run_id, node=self.name, detail=repr(exc))
                self.deps.tracer.write(fault)
                return
            stored.append(StoredMemory(id=result.memory.id, kind=kind.value, action=result.action))
        if stored:
            self.deps.tracer.write(MemoryStored(run_id=run_id, memories=stored))
