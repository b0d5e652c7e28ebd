"""`react`: the standard tool loop, one model call per tool call, until the model answers.

```
START -> begin -> agent --tool call--> tools -> agent ... --final_answer--> finish -> END
```

The model node asks for one `ReactStep` (a thought and one action) through the
same structured-output path as agentlab's planner: on the embedded model and
OpenAI-compatible servers the schema is enforced while decoding, and its
action names the inventory's tools (or `final_answer`). The tool node runs the
call through agentlab's step engine, so a hallucinated tool, bad arguments, a
tool error, a timeout or a repeated call is recorded under the same category
as when a plan step does it.

LangGraph's prebuilt `create_react_agent` is not used: it needs a model with
native tool calling (`bind_tools`), which the embedded llama.cpp backend and
replayed cassettes do not have, and its tool node reports errors as message
text and stops runaway loops with a recursion error, where agentlab records
failure categories and budgets.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final, Literal

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.types import Command
from pydantic import BaseModel, ConfigDict, Field

from agentlab import code_examples, lifecycle
from agentlab.baselines.common import AGENT, FINISH, scratchpad
from agentlab.baselines.prompts import (
    FINAL_ANSWER,
    OBSERVATION,
    TASK,
    react_example,
    react_system_prompt,
)
from agentlab.budget import budget_exhausted
from agentlab.events import PlanMade
from agentlab.failures import FailureCategory
from agentlab.nodes.asking import ask_structured
from agentlab.nodes.base import AgentDeps, Node, traced_node
from agentlab.plan_checks import Finding
from agentlab.plan_schema import schema_model, step_schema
from agentlab.prompts import clip
from agentlab.schemas import Plan, Step
from agentlab.state import AgentState, Counters
from agentlab.step_engine import StepEngine, Wave
from agentlab.stops import NoAnswer
from agentlab.tools.base import tool_has_side_effects

TOOLS: Final = "tools"
NO_ACTION = "no answer: the model's replies never parsed as an action ({attempts} attempts)"


class ReactAction(BaseModel):
    """One tool call, or `final_answer` with `{"answer": ...}`."""

    model_config = ConfigDict(extra="ignore")

    tool: str = Field(description="A tool from the inventory, or final_answer")
    args: dict[str, Any] = Field(default_factory=dict)


class ReactStep(BaseModel):
    """The model's reply on each turn of the loop."""

    model_config = ConfigDict(extra="ignore")

    thought: str = ""
    action: ReactAction


def react_json_schema(tools: Sequence[BaseTool]) -> dict[str, Any]:
    """The JSON schema the backend enforces: a thought, then an action that calls one of the
    inventory's tools with that tool's own arguments (as a plan step's are constrained), or
    `final_answer` with a required `answer`."""
    defs: dict[str, Any] = {}
    answer = {
        "type": "object",
        "properties": {"answer": {"type": "string"}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    actions: list[dict[str, Any]] = [
        step_schema(tool, defs, rationale=False, with_id=False) for tool in tools
    ]
    actions.append(
        {
            "type": "object",
            "properties": {"tool": {"const": FINAL_ANSWER}, "args": answer},
            "required": ["tool", "args"],
            "additionalProperties": False,
        }
    )
    schema: dict[str, Any] = {
        "title": "ReactStep",
        "type": "object",
        "properties": {"thought": {"type": "string"}, "action": {"anyOf": actions}},
        "required": ["thought", "action"],
    }
    if defs:
        schema["$defs"] = defs
    return schema


def react_step_model(tools: Sequence[BaseTool]) -> type[ReactStep]:
    """`ReactStep` presenting the inventory's union schema; parsing stays lenient, so a tool
    the backend did not constrain reaches the tool node and counts as `planning.invalid_tool`."""
    return schema_model(ReactStep, react_json_schema(tools))


def answer_of(args: dict[str, Any]) -> str:
    """The answer a `final_answer` action gives ("" when it gives none)."""
    value = args.get("answer", "")
    return (value if isinstance(value, str) else json.dumps(value)).strip()


class ReactAgent(Node):
    """Asks the model for the next step, given the task and the turns so far."""

    name = AGENT

    def __init__(self, deps: AgentDeps) -> None:
        super().__init__(deps)
        self.prefix: list[BaseMessage] = [
            SystemMessage(content=react_system_prompt(deps.tools)),
            *react_example(),
        ]
        self.schema = react_step_model(list(deps.tools))

    def plans_made(self, state: AgentState, update: dict[str, Any], run_id: str) -> list[PlanMade]:
        """Each tool call the model asks for is an action; a run's actions form its plan."""
        action = update.get("action")
        if not isinstance(action, Step):
            return []
        number = len(state.get("results") or {}) + 1
        plan = Plan(steps=[action])
        return [PlanMade(run_id=run_id, node=self.name, source="action", version=number, plan=plan)]

    def messages(self, state: AgentState) -> list[BaseMessage]:
        return [
            *self.prefix,
            HumanMessage(content=TASK.format(task=state["task"])),
            *(scratchpad(state).get("transcript") or []),
        ]

    @traced_node
    def __call__(
        self, state: AgentState, config: RunnableConfig
    ) -> Command[Literal["tools", "finish"]]:
        asked = ask_structured(self.deps, state, self.messages(state), self.schema, node=self.name)
        update: dict[str, Any] = {"failures": asked.failures, "counters": asked.counters}
        if asked.stop is not None or asked.value is None:
            attempts = asked.counters.llm_calls
            reason = asked.stop or NoAnswer(detail=NO_ACTION.format(attempts=attempts))
            stopped = lifecycle.stop(
                self.deps, state, reason, node=self.name, failures=asked.failures
            )
            return Command(update=update | stopped, goto=FINISH)
        step = asked.value
        # The reply goes back as parsed, spaced like the prompt's example.
        update["transcript"] = [AIMessage(content=json.dumps(step.model_dump()))]
        if step.action.tool == FINAL_ANSWER:
            update["answer"] = self._final_answer(state, answer_of(step.action.args))
            return Command(update=update, goto=FINISH)
        step_id = f"s{len(state.get('results') or {}) + 1}"
        update["action"] = Step(
            id=step_id, tool=step.action.tool, args=step.action.args, why=step.thought
        )
        return Command(update=update, goto=TOOLS)

    def _final_answer(self, state: AgentState, answer: str) -> str | None:
        """The action's answer; when the answer must be code and it is prose about code
        ("The function is correctly defined"), the last code the loop ran (the rule
        agentlab's finalizer keeps: a code answer is code, never a summary of it)."""
        if self.deps.delivers_code(state) and not code_examples.holds_code(answer):
            results = (state.get("results") or {}).values()
            return code_examples.last_ran_code(results) or answer or None
        return answer or None


REACT_CANNOT_ASK = (
    "the react baseline has no one to ask for approval: write actions run only under the "
    "approval policy allow, and not after text flagged as prompt injection"
)


class ReactTools(Node):
    """Runs the requested call through agentlab's step engine and reports the observation."""

    name = TOOLS

    def __init__(self, deps: AgentDeps) -> None:
        super().__init__(deps)
        self.engine = StepEngine(deps, node=self.name)

    def _allowed(self, state: AgentState) -> bool:
        flagged = any(
            f.category == FailureCategory.GUARDRAIL_PROMPT_INJECTION
            for f in state.get("failures") or []
        )
        return self.deps.config.approval == "allow" and not flagged

    @traced_node
    def __call__(
        self, state: AgentState, config: RunnableConfig
    ) -> Command[Literal["agent", "finish"]]:
        step = scratchpad(state).get("action")
        if step is None:
            return Command(goto=AGENT)
        over = budget_exhausted(state, self.deps.config.budgets, tool_calls=1)
        if over is not None:
            stopped = lifecycle.stop(self.deps, state, over, node=self.name)
            return Command(update={**stopped, "action": None}, goto=FINISH)
        wave = Wave()
        tool = self.deps.tool(step.tool)
        if tool is not None and tool_has_side_effects(tool) and not self._allowed(state):
            finding = Finding(FailureCategory.GUARDRAIL_ACTION_REJECTED, REACT_CANNOT_ASK)
            self.engine.refuse(state, step, [finding], wave)
        else:
            self.engine.run(state, [step], dict(state.get("results") or {}), wave)
        result = wave.results[step.id]
        observation = HumanMessage(content=OBSERVATION.format(output=clip(result.output)))
        return Command(
            update={
                "results": wave.results,
                "past_calls": wave.past_calls,
                "failures": wave.failures,
                "effects": wave.effects,
                "counters": wave.model_counters + Counters(tool_calls=wave.tool_calls),
                "transcript": [observation],
                "action": None,
            },
            goto=AGENT,
        )
