"""planner: asks the model for a `Plan` of typed tool calls."""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.types import Command, Overwrite

from agentlab import lifecycle, prompts
from agentlab.budget import replans_exhausted
from agentlab.nodes.asking import ask_structured
from agentlab.nodes.base import Node, traced_node
from agentlab.schemas import capped_plan
from agentlab.state import AgentState, Counters
from agentlab.stops import NoAnswer

HISTORY_MESSAGES = 6
NO_PLAN = "no answer: the model's replies never parsed as a plan ({attempts} attempts)"


def conversation_history(state: AgentState) -> list[str]:
    """Earlier turns on this thread (the current task excluded), newest last."""
    earlier = list(state.get("messages") or [])[:-1]
    return [f"{m.type}: {prompts.clip(str(m.content), 300)}" for m in earlier[-HISTORY_MESSAGES:]]


def planner_messages(system: str, state: AgentState) -> list[BaseMessage]:
    """The planner's prompt: the shared system prompt, then the task and what it must take into account."""
    sections = [prompts.PLAN_REQUEST.format(task=state["task"])]
    if memories := state.get("memories"):
        sections.append(prompts.fenced_memories(memories))
    if history := conversation_history(state):
        sections.append(prompts.SECTION_HISTORY.format(items=prompts.bullet_list(history)))
    if results := state.get("results"):
        lines = [prompts.result_line(r) for r in results.values()]
        sections.append(prompts.SECTION_RESULTS.format(items=prompts.bullet_list(lines)))
    if findings := state.get("findings"):
        sections.append(prompts.SECTION_FINDINGS.format(items=prompts.bullet_list(findings)))
    return [SystemMessage(content=system), HumanMessage(content="\n\n".join(sections))]


class Planner(Node):
    name = "planner"

    @traced_node
    def __call__(
        self, state: AgentState, config: RunnableConfig
    ) -> Command[Literal["validator", "executor", "finalizer"]]:
        deps = self.deps
        replanning = state.get("plan_version", 0) > 0
        if replanning and (over := replans_exhausted(state, deps.config.budgets)):
            return Command(
                update=lifecycle.stop(deps, state, over, node=self.name), goto="finalizer"
            )
        schema = capped_plan(deps.config.budgets.max_plan_steps)
        asked = ask_structured(
            deps, state, planner_messages(deps.system_prompt, state), schema, node=self.name
        )
        update: dict[str, Any] = {
            "failures": asked.failures,
            "counters": asked.counters + Counters(replans=int(replanning)),
        }
        if asked.stop is not None or asked.value is None:
            attempts = 1 + deps.config.budgets.max_output_retries
            reason = asked.stop or NoAnswer(detail=NO_PLAN.format(attempts=attempts))
            update |= lifecycle.stop(deps, state, reason, node=self.name, failures=asked.failures)
            return Command(update=update, goto="finalizer")
        update |= {
            "plan": asked.value,
            "plan_version": state.get("plan_version", 0) + 1,
            "results": Overwrite({}),
            "findings": [],
            "answer": None,
        }
        return Command(update=update, goto="validator" if deps.config.validator else "executor")
