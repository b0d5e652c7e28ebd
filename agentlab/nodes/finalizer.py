"""finalizer: settles the final answer and the run's status (`lifecycle.settle`).

The answer is the one the joiner or the reflector gave; without one, the plan's last
result (or, when the answer is code, the best code the run wrote: never prose about it).
"""

from __future__ import annotations

from typing import Literal

from langchain_core.runnables import RunnableConfig
from langgraph.types import Command

from agentlab import lifecycle
from agentlab.failures import FailureCategory
from agentlab.guardrails.answers import answer_problem
from agentlab.nodes.base import Node, traced_node
from agentlab.schemas import Plan
from agentlab.state import AgentState, best_attempt


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
        return best_attempt(attempts).code
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
    def __call__(
        self, state: AgentState, config: RunnableConfig
    ) -> Command[Literal["remember", "reflector"]]:
        code = self.deps.delivers_code(state) or bool(state.get("code_attempts"))
        fallback = last_code_answer(state) if code else last_result_answer(state)
        answer = state.get("answer") or fallback
        problem = self._problem(state, answer)
        if problem is not None:
            failure = self.deps.failure(
                state, FailureCategory.GUARDRAIL_OUTPUT_INVALID, problem, node=self.name
            )
            if not state.get("answer_feedback"):
                # One more try: the reflector is told what the answer must look like.
                update = {"failures": [failure], "answer_feedback": problem, "answer": None}
                return Command(update=update, goto="reflector")
            settled = lifecycle.settle(self.deps, state, None, node=self.name)
            settled["failures"] = [failure, *settled.get("failures", [])]
            settled["answer"] = None
            lifecycle.release_tools(self.deps.tools, state.get("run_id"))
            return Command(update=settled, goto="remember")
        lifecycle.release_tools(self.deps.tools, state.get("run_id"))
        return Command(
            update=lifecycle.settle(self.deps, state, answer, node=self.name), goto="remember"
        )

    def _problem(self, state: AgentState, answer: str | None) -> str | None:
        """What the output guardrail finds wrong with a run's answer (None: nothing, or no
        check declared, or the run stopped without an answer)."""
        config = self.deps.config
        if config.answer_format is None and config.answer_schema is None:
            return None
        if state.get("stop") is not None or not (answer or "").strip():
            return None
        return answer_problem(
            answer or "", pattern=config.answer_format, schema=config.answer_schema
        )
