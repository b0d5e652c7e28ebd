"""finalizer: settles the final answer and the run's status (`lifecycle.settle`)."""

from __future__ import annotations

from typing import Literal

from langchain_core.runnables import RunnableConfig
from langgraph.types import Command

from agentlab import lifecycle
from agentlab.nodes.base import Node, traced_node
from agentlab.schemas import Plan
from agentlab.state import AgentState


def last_result_answer(state: AgentState) -> str | None:
    """The output of the plan's last successful step, in plan order."""
    plan = state.get("plan") or Plan()
    results = state.get("results") or {}
    for step in reversed(plan.steps):
        result = results.get(step.id)
        if result is not None and result.status == "ok" and result.output.strip():
            return result.output.strip()
    return None


class Finalizer(Node):
    name = "finalizer"

    @traced_node
    def __call__(self, state: AgentState, config: RunnableConfig) -> Command[Literal["remember"]]:
        lifecycle.release_tools(self.deps.tools, state.get("run_id"))
        answer = state.get("answer") or last_result_answer(state)
        return Command(
            update=lifecycle.settle(self.deps, state, answer, node=self.name), goto="remember"
        )
