"""remember: stores what is worth keeping, then ends the run (trace footer)."""

from __future__ import annotations

import time
from collections import Counter
from typing import Literal

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END
from langgraph.types import Command

from agentlab.nodes.base import Node, trace_node_step
from agentlab.state import AgentState, Counters


class Remember(Node):
    name = "remember"

    def __call__(self, state: AgentState, config: RunnableConfig) -> Command[Literal["__end__"]]:
        # Not @traced_node: the footer must be the trace's last line.
        started = time.perf_counter()
        command: Command[Literal["__end__"]] = Command(goto=END)
        trace_node_step(self, state, command, time.perf_counter() - started)
        self._end_run(state)
        return command

    def _end_run(self, state: AgentState) -> None:
        run_id = state.get("run_id", "unknown")
        counters = state.get("counters") or Counters()
        failures = state.get("failures") or []
        self.deps.tracer.emit(
            run_id,
            "footer",
            status=state.get("status"),
            status_detail=state.get("status_detail", ""),
            answer=state.get("answer"),
            counters=counters.model_dump(),
            seconds=round(time.time() - state.get("started_at", time.time()), 3),
            failures=dict(Counter(str(f.category) for f in failures)),
        )
        self.deps.tracer.close(run_id)
