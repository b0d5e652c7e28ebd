"""reflector: judges a plan's results (a model call) and decides to finish or replan.

The joiner sends it here when the results do not already answer (see its policy);
a replan names the steps judged wrong, so the next plan is shown them and may not
repeat their calls.
"""

from __future__ import annotations

from typing import Any, Literal, assert_never

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.types import Command

from agentlab import execution, lifecycle, prompts
from agentlab.budget import replans_exhausted
from agentlab.nodes.asking import ask_structured
from agentlab.nodes.base import Node, traced_node
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
    if feedback := state.get("answer_feedback"):
        request += f"\n\nYour last answer was refused: {feedback}. Answer again in that form."
    return [SystemMessage(content=system), HumanMessage(content=request)]


class Reflector(Node):
    name = "reflector"

    @traced_node
    def __call__(
        self, state: AgentState, config: RunnableConfig
    ) -> Command[Literal["finalizer", "planner"]]:
        deps = self.deps
        asked = ask_structured(
            deps,
            state,
            reflector_messages(deps.system_prompt, state),
            ClosingReflection,
            node=self.name,
        )
        update: dict[str, Any] = {"failures": asked.failures, "counters": asked.counters}
        if asked.stop is not None:
            update |= lifecycle.stop(
                deps, state, asked.stop, node=self.name, failures=asked.failures
            )
            return Command(update=update, goto="finalizer")
        if asked.value is None:
            # An unparseable verdict: fall back to what the plan gave, as when reflection is off.
            return Command(update=update, goto="finalizer")
        reflection = asked.value.as_reflection()
        update["reflections"] = [reflection]
        decision = decision_of(reflection)
        match decision:
            case Finish(answer=answer):
                if not deps.delivers_code(state) and not state.get("code_attempts"):
                    # A code answer stays the code the plan wrote, never prose about it.
                    update["answer"] = answer or None
                return Command(update=update, goto="finalizer")
            case Continue():
                return self._replan(state, update, reflection, CONTINUE_FINDING)
            case Replan(critique=critique):
                return self._replan(state, update, reflection, critique or NO_CRITIQUE)
            case _:
                assert_never(decision)

    def _replan(
        self, state: AgentState, update: dict[str, Any], reflection: Reflection, finding: str
    ) -> Command[Literal["finalizer", "planner"]]:
        over = replans_exhausted(state, self.deps.config.budgets)
        if over is not None:
            stopped = lifecycle.stop(
                self.deps, state, over, node=self.name, failures=update["failures"]
            )
            return Command(update=update | stopped, goto="finalizer")
        results = state.get("results") or {}
        wrong = [results[i] for i in reflection.wrong if i in results]
        findings = [finding]
        if wrong:
            lines = "; ".join(prompts.result_line(r) for r in wrong)
            findings.append(prompts.JUDGED_WRONG.format(items=lines))
            update["rejected"] = [execution.call_key(r.tool, r.args) for r in wrong]
        update["findings"] = findings
        return Command(update=update, goto="planner")
