"""finalizer: settles the final answer and the run's status (`lifecycle.settle`).

The answer is the one the joiner or the reflector gave; without one, the plan's last
result (or, when the answer is code, the best code the run wrote: never prose about it).
"""

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


def last_code_answer(state: AgentState) -> str | None:
    """For a code answer: the code that passed the most of the task's examples (the latest
    of equals), else the code of the plan's last python step."""
    attempts = state.get("code_attempts") or []
    if attempts:
        return max(reversed(attempts), key=lambda a: a.passed).code
    plan = state.get("plan") or Plan()
    results = state.get("results") or {}
    for step in reversed(plan.steps):
        result = results.get(step.id)
        code = result.args.get("code") if result is not None else step.args.get("code")
        if isinstance(code, str) and code.strip():
            return code
    return None


class Finalizer(Node):
    name = "finalizer"

    @traced_node
    def __call__(self, state: AgentState, config: RunnableConfig) -> Command[Literal["remember"]]:
        lifecycle.release_tools(self.deps.tools, state.get("run_id"))
        code = self.deps.delivers_code(state) or bool(state.get("code_attempts"))
        fallback = last_code_answer(state) if code else last_result_answer(state)
        answer = state.get("answer") or fallback
        return Command(
            update=lifecycle.settle(self.deps, state, answer, node=self.name), goto="remember"
        )
