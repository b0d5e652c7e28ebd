"""reflector: judges the results and decides to finish, continue or replan."""

from __future__ import annotations

from typing import Any, Literal, assert_never

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.types import Command

from agentlab import lifecycle, prompts
from agentlab.budget import replans_exhausted
from agentlab.nodes.asking import ask_structured
from agentlab.nodes.base import Node, traced_node
from agentlab.nodes.executor import pending_steps
from agentlab.schemas import (
    ClosingReflection,
    Continue,
    Finish,
    Plan,
    Reflection,
    Replan,
    decision_of,
)
from agentlab.state import AgentState

NO_CRITIQUE = "the reflector judged the results wrong; plan differently"
CONTINUE_FINDING = "the results so far do not answer the task yet; plan the remaining steps"


def reflector_messages(system: str, state: AgentState) -> list[BaseMessage]:
    plan = state.get("plan") or Plan()
    results = state.get("results") or {}
    lines = [prompts.result_line(results[s.id]) for s in plan.steps if s.id in results]
    request = prompts.REFLECT_REQUEST.format(
        task=state["task"], results=prompts.bullet_list(lines) or "(no steps were run)"
    )
    return [SystemMessage(content=system), HumanMessage(content=request)]


class Reflector(Node):
    name = "reflector"

    @traced_node
    def __call__(
        self, state: AgentState, config: RunnableConfig
    ) -> Command[Literal["finalizer", "planner", "executor"]]:
        deps = self.deps
        steps_pending = bool(pending_steps(state.get("plan") or Plan(), state.get("results") or {}))
        schema: type[Reflection | ClosingReflection] = (
            Reflection if steps_pending else ClosingReflection
        )
        asked = ask_structured(
            deps, state, reflector_messages(deps.system_prompt, state), schema, node=self.name
        )
        update: dict[str, Any] = {"failures": asked.failures, "counters": asked.counters}
        if asked.stop is not None:
            update |= lifecycle.stop(
                deps, state, asked.stop, node=self.name, failures=asked.failures
            )
            return Command(update=update, goto="finalizer")
        if asked.value is None:
            # An unparseable verdict: fall back to the executor's last result, as
            # when reflection is off.
            return Command(update=update, goto="finalizer")
        reflection = (
            asked.value if isinstance(asked.value, Reflection) else asked.value.as_reflection()
        )
        update["reflections"] = [reflection]
        decision = decision_of(reflection)
        match decision:
            case Finish(answer=answer):
                update["answer"] = answer or None
                return Command(update=update, goto="finalizer")
            case Continue():
                if steps_pending:
                    return Command(update=update, goto="executor")
                return self._replan(state, update, CONTINUE_FINDING)
            case Replan(critique=critique):
                return self._replan(state, update, critique or NO_CRITIQUE)
            case _:
                assert_never(decision)

    def _replan(
        self, state: AgentState, update: dict[str, Any], finding: str
    ) -> Command[Literal["finalizer", "planner", "executor"]]:
        over = replans_exhausted(state, self.deps.config.budgets)
        if over is not None:
            stopped = lifecycle.stop(
                self.deps, state, over, node=self.name, failures=update["failures"]
            )
            return Command(update=update | stopped, goto="finalizer")
        update["findings"] = [finding]
        return Command(update=update, goto="planner")
