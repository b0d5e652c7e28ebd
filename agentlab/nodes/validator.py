"""validator: checks a plan without running it; a rejected plan goes back to the planner."""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.types import Command

from agentlab import lifecycle, prompts
from agentlab.failures import FailureCategory, FailureEvent
from agentlab.nodes.asking import ask_structured
from agentlab.nodes.base import Node, traced_node
from agentlab.plan_checks import Finding, check_plan
from agentlab.schemas import Critique, Plan
from agentlab.state import AgentState


class Validator(Node):
    name = "validator"

    @traced_node
    def __call__(
        self, state: AgentState, config: RunnableConfig
    ) -> Command[Literal["executor", "planner", "finalizer"]]:
        deps = self.deps
        plan = state.get("plan") or Plan()
        findings = check_plan(plan, deps.tools, deps.config.budgets)
        update: dict[str, Any] = {}
        if not findings and deps.config.llm_critique:
            critique_update, findings = self._critique(state, plan)
            update |= critique_update
            if "stop" in critique_update:
                return Command(update=update, goto="finalizer")
        if not findings:
            return Command(update=update, goto="executor")
        failures: list[FailureEvent] = [
            *update.get("failures", []),
            *(
                deps.failure(
                    state,
                    f.category,
                    f.detail,
                    node=self.name,
                    step_id=f.step_id,
                    tool=f.tool,
                    args=f.args,
                )
                for f in findings
            ),
        ]
        update |= {"failures": failures, "findings": [f.detail for f in findings]}
        return Command(update=update, goto="planner")

    def _critique(self, state: AgentState, plan: Plan) -> tuple[dict[str, Any], list[Finding]]:
        """Ask the model to review the plan; `revise` turns its issues into findings."""
        deps = self.deps
        request = prompts.CRITIQUE_REQUEST.format(task=state["task"], plan=plan.model_dump_json())
        messages = [SystemMessage(content=deps.system_prompt), HumanMessage(content=request)]
        asked = ask_structured(deps, state, messages, Critique, node=self.name)
        update: dict[str, Any] = {"failures": asked.failures, "counters": asked.counters}
        if asked.stop is not None:
            update |= lifecycle.stop(
                deps, state, asked.stop, node=self.name, failures=asked.failures
            )
            return update, []
        if asked.value is None or asked.value.verdict == "ok":
            return update, []
        issues = asked.value.issues or ["the critique judged the plan wrong for the task"]
        return update, [
            Finding(FailureCategory.PLANNING_WRONG_ARGUMENT_VALUES, f"critique: {issue}")
            for issue in issues
        ]
