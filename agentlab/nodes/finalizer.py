"""finalizer: writes the final answer and the run's status."""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from langgraph.types import Command

from agentlab.failures import FailureCategory
from agentlab.nodes.base import Node, traced_node
from agentlab.schemas import Plan
from agentlab.state import AgentState
from agentlab.tools.base import RunScoped
from agentlab.tools.registry import ToolRegistry

NO_ANSWER = "the run ended without an answer"


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
        self._release_tools(state)
        status = state.get("status", "running")
        update: dict[str, Any] = {}
        if status != "running":
            return Command(update={"answer": None}, goto="remember")
        answer = state.get("answer") or last_result_answer(state)
        if answer:
            update |= {
                "answer": answer,
                "status": "answered",
                "messages": [AIMessage(content=answer)],
            }
        else:
            failure = self.deps.failure(state, FailureCategory.NO_ANSWER, NO_ANSWER, node=self.name)
            update |= {
                "answer": None,
                "status": "no_answer",
                "status_detail": NO_ANSWER,
                "failures": [failure],
            }
        return Command(update=update, goto="remember")

    def _release_tools(self, state: AgentState) -> None:
        release_run_tools(self.deps.tools, state.get("run_id"))


def release_run_tools(tools: ToolRegistry, run_id: str | None) -> None:
    """Release what tools hold for the run (sandbox sessions); the baselines call it too."""
    if not run_id:
        return
    for tool in tools:
        if isinstance(tool, RunScoped):
            tool.end_run(run_id)
