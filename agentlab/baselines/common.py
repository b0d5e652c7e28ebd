"""What both baselines share: their state, the node that begins a run and the one that ends it.

A baseline run starts and ends as an agentlab run does (the same trace header,
per-run reset, answer rules and footer), so the evaluation harness and
`agentlab failures` read its trace like any variant's.
"""

from __future__ import annotations

import operator
import time
from typing import Annotated, Any, Final, Literal, cast

from langchain_core.messages import AIMessage, AnyMessage
from langchain_core.runnables import RunnableConfig
from langgraph.types import Command, Overwrite

from agentlab.failures import FailureCategory
from agentlab.nodes.base import Node, trace_node_step, traced_node
from agentlab.nodes.finalizer import NO_ANSWER, release_run_tools
from agentlab.nodes.recall import begin_run
from agentlab.nodes.remember import write_footer
from agentlab.schemas import Step
from agentlab.state import AgentState

AGENT: Final = "agent"
FINISH: Final = "finish"


class BaselineState(AgentState, total=False):
    """agentlab's state plus the baselines' scratchpad; graphs output `AgentState` only."""

    transcript: Annotated[list[AnyMessage], operator.add]
    """The `react` loop's turns after the task: each reply, then its observation."""
    action: Step | None
    """The tool call the model asked for, waiting for the tool node."""


def scratchpad(state: AgentState) -> BaselineState:
    """`state` seen with the baselines' own keys (nodes are typed on `AgentState`)."""
    return cast(BaselineState, state)


class Begin(Node):
    """Writes the trace header and resets the per-run fields (no memory recall)."""

    name = "begin"

    @traced_node
    def __call__(self, state: AgentState, config: RunnableConfig) -> Command[Literal["agent"]]:
        update = begin_run(self.deps, state, config)
        update |= {"transcript": Overwrite([]), "action": None}
        return Command(update=update, goto=AGENT)


class Finish(Node):
    """Settles the status and answer, releases per-run tool resources, writes the footer."""

    name = FINISH

    def __call__(self, state: AgentState, config: RunnableConfig) -> Command[Literal["__end__"]]:
        # Not @traced_node: the footer must be the trace's last line.
        started = time.perf_counter()
        release_run_tools(self.deps.tools, state.get("run_id"))
        update = self._settle(state)
        command: Command[Literal["__end__"]] = Command(update=update, goto="__end__")
        trace_node_step(self, state, command, time.perf_counter() - started)
        final: AgentState = {**state, **update}  # type: ignore[typeddict-item]
        final["failures"] = [*(state.get("failures") or []), *update.get("failures", [])]
        cache = self.deps.caller.cache_counts(final.get("run_id", "unknown"))
        write_footer(self.deps.tracer, final, cache=cache)
        return command

    def _settle(self, state: AgentState) -> dict[str, Any]:
        """The finalizer's rules: a stopped run has no answer; a run that ends without one
        is `no_answer` with a `goal.no_answer` failure."""
        if state.get("status", "running") != "running":
            return {"answer": None}
        answer = (state.get("answer") or "").strip()
        if answer:
            return {"answer": answer, "status": "answered", "messages": [AIMessage(answer)]}
        failure = self.deps.failure(state, FailureCategory.NO_ANSWER, NO_ANSWER, node=self.name)
        return {
            "answer": None,
            "status": "no_answer",
            "status_detail": NO_ANSWER,
            "failures": [failure],
        }
