"""What both baselines share: their state, the node that begins a run and the one that ends it.

A baseline run starts and ends as an agentlab run does (the same trace header,
per-run reset, answer rules and footer), so the evaluation harness and
`agentlab failures` read its trace like any variant's.
"""

from __future__ import annotations

import operator
import time
from typing import Annotated, Final, Literal, cast

from langchain_core.messages import AnyMessage
from langchain_core.runnables import RunnableConfig
from langgraph.types import Command, Overwrite

from agentlab import lifecycle
from agentlab.nodes.base import Node, trace_node_step, traced_node
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
    """Begins the run (`lifecycle.begin`: header, per-run reset; no memory recall)."""

    name = "begin"

    @traced_node
    def __call__(self, state: AgentState, config: RunnableConfig) -> Command[Literal["agent"]]:
        update = lifecycle.begin(self.deps, state, config)
        update |= {"transcript": Overwrite([]), "action": None}
        return Command(update=update, goto=AGENT)


class End(Node):
    """Settles the status and answer (`lifecycle.settle`), then ends the run (`lifecycle.end`)."""

    name = FINISH

    def __call__(self, state: AgentState, config: RunnableConfig) -> Command[Literal["__end__"]]:
        # Not @traced_node: the footer must be the trace's last line.
        started = time.perf_counter()
        update = lifecycle.settle(self.deps, state, state.get("answer"), node=self.name)
        command: Command[Literal["__end__"]] = Command(update=update, goto="__end__")
        trace_node_step(self, state, command, time.perf_counter() - started)
        final: AgentState = {**state, **update}  # type: ignore[typeddict-item]
        final["failures"] = [*(state.get("failures") or []), *update.get("failures", [])]
        lifecycle.end(self.deps, final)
        return command
