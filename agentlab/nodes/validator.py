"""validator: checks a plan without running it; a rejected plan goes back to the planner."""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.types import Command

from agentlab import lifecycle, prompts
from agentlab.failures import FailureCategory, FailureEvent
from agentlab.joining import combine_candidates
from agentlab.nodes.asking import ask_structured
from agentlab.nodes.base import Node, traced_node
from agentlab.plan_checks import (
    Finding,
    check_plan,
    with_completed_bodies,
    with_mended_code,
    without_code_echoes,
)
from agentlab.schemas import Critique, Plan
from agentlab.state import AgentState


class Validator(Node):
    name = "validator"

    @traced_node
    def __call__(
        self, state: AgentState, config: RunnableConfig
    ) -> Command[Literal["executor", "planner", "finalizer"]]:
        deps = self.deps
        if candidates := state.get("candidates"):
            return self._candidates(state, candidates)
        plan, echoes = self._code_plan(state, state.get("plan") or Plan())
        update: dict[str, Any] = {"plan": plan, "failures": echoes} if echoes else {}
        rejected = set(state.get("rejected") or [])
        findings = check_plan(plan, deps.tools, deps.config.budgets, rejected=rejected)
        if not findings and deps.config.llm_critique:
            critique_update, findings = self._critique(state, plan)
            update |= critique_update
            if "stop" in critique_update:
                return Command(update=update, goto="finalizer")
        if not findings:
            return Command(update=update, goto="executor")
        failures = [*update.get("failures", []), *self._failures(state, findings)]
        update |= {"failures": failures, "findings": [f.detail for f in findings]}
        return Command(update=update, goto="planner")

    def _code_plan(self, state: AgentState, plan: Plan) -> tuple[Plan, list[FailureEvent]]:
        """On a code task, `plan` without steps echoing another step's code, with the JSON
        brackets typed into code taken off and bare function bodies completed, and a
        failure for each step it changed (see `without_code_echoes`, `with_mended_code`,
        `with_completed_bodies`)."""
        if not self.deps.delivers_code(state):
            return plan, []
        plan, echoes = without_code_echoes(plan)
        plan, mended = with_mended_code(plan)
        plan, bodies = with_completed_bodies(plan, state.get("task", ""))
        return plan, self._failures(state, echoes + mended + bodies)

    def _failures(
        self, state: AgentState, findings: list[Finding], prefix: str = ""
    ) -> list[FailureEvent]:
        return [
            self.deps.failure(
                state,
                f.category,
                prefix + f.detail,
                node=self.name,
                step_id=f.step_id,
                tool=f.tool,
                args=f.args,
            )
            for f in findings
        ]

    def _candidates(
        self, state: AgentState, candidates: list[Plan]
    ) -> Command[Literal["executor", "planner", "finalizer"]]:
        """Check each candidate plan; the valid ones run together (their step ids prefixed
        `c<n>_`), the others are findings. None valid: back to the planner."""
        deps = self.deps
        candidates = list(candidates)
        rejected = set(state.get("rejected") or [])
        failures: list[FailureEvent] = []
        valid: list[int] = []
        first_findings: list[Finding] = []
        for number, candidate in enumerate(candidates, 1):
            candidates[number - 1], echoes = self._code_plan(state, candidate)
            failures += echoes
            findings = check_plan(
                candidates[number - 1], deps.tools, deps.config.budgets, rejected=rejected
            )
            if not findings:
                valid.append(number)
                continue
            first_findings = first_findings or findings
            failures += self._failures(state, findings, prefix=f"candidate {number}: ")
        if not valid:
            update = {"failures": failures, "findings": [f.detail for f in first_findings]}
            return Command(update=update, goto="planner")
        combined = combine_candidates(candidates, valid)
        update = {
            "failures": failures,
            "plan": combined,
            "candidates": candidates,
            "valid_candidates": valid,
        }
        return Command(update=update, goto="executor")

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
