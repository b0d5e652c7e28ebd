"""`direct`: the bare model, asked to reason step by step and answer, without tools.

```
START -> begin -> agent -> finish -> END
```

One structured reply, `{"reasoning": ..., "answer": ...}`, through the same
path as agentlab's planner (schema enforced while decoding where the backend
can); reasoning comes first so the model works the task out before it commits
to an answer. On a task of declared functions (BFCL) the answer is the calls,
written as text in BFCL's prompting format and parsed into a plan.
"""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.types import Command
from pydantic import BaseModel, ConfigDict, Field, field_validator

from agentlab import lifecycle
from agentlab.baselines.calls import parse_calls
from agentlab.baselines.common import AGENT, FINISH
from agentlab.baselines.prompts import DIRECT_SYSTEM, TASK, direct_calls_prompt
from agentlab.events import PlanMade
from agentlab.nodes.asking import ask_structured
from agentlab.nodes.base import AgentDeps, Node, traced_node
from agentlab.schemas import Plan
from agentlab.state import AgentState
from agentlab.stops import NoAnswer
from agentlab.tools.base import tool_is_declared

NO_REPLY = "no answer: the model's replies never parsed as an answer ({attempts} attempts)"


class DirectAnswer(BaseModel):
    """The bare model's reply."""

    model_config = ConfigDict(extra="ignore")

    reasoning: str = Field(description="The task worked out step by step")
    answer: str = Field(description="The final answer, the value only")


class DirectCalls(DirectAnswer):
    """The bare model's reply on a task of declared functions: the answer is the calls."""

    answer: str = Field(
        description="The function calls, in Python syntax: [func_name(param=value, ...)]"
    )

    @field_validator("answer")
    @classmethod
    def _calls(cls, answer: str) -> str:
        parse_calls(answer)  # a reply whose calls do not parse is retried like any malformed one
        return answer

    def plan(self) -> Plan:
        """The calls, one plan step each."""
        return parse_calls(self.answer)


class DirectAgent(Node):
    """Asks the model once (retrying a reply that does not parse, within budget).

    When the inventory holds declared functions (BFCL's), the model is told them and
    answers with the calls as text; they are its plan (a `plan` event, `source="answer"`),
    which grading reads as it reads a planner's.
    """

    name = AGENT

    def __init__(self, deps: AgentDeps) -> None:
        super().__init__(deps)
        functions = [tool for tool in deps.tools if tool_is_declared(tool)]
        self.schema: type[DirectAnswer] = DirectCalls if functions else DirectAnswer
        self.system = direct_calls_prompt(functions) if functions else DIRECT_SYSTEM

    def plans_made(self, state: AgentState, update: dict[str, Any], run_id: str) -> list[PlanMade]:
        plan = update.get("plan")
        if not isinstance(plan, Plan):
            return []
        return [PlanMade(run_id=run_id, node=self.name, source="answer", plan=plan)]

    @traced_node
    def __call__(self, state: AgentState, config: RunnableConfig) -> Command[Literal["finish"]]:
        messages = [
            SystemMessage(content=self.system),
            HumanMessage(content=TASK.format(task=state["task"])),
        ]
        asked = ask_structured(self.deps, state, messages, self.schema, node=self.name)
        update: dict[str, Any] = {"failures": asked.failures, "counters": asked.counters}
        if asked.stop is not None or asked.value is None:
            attempts = asked.counters.llm_calls
            reason = asked.stop or NoAnswer(detail=NO_REPLY.format(attempts=attempts))
            update |= lifecycle.stop(
                self.deps, state, reason, node=self.name, failures=asked.failures
            )
            return Command(update=update, goto=FINISH)
        update["answer"] = asked.value.answer.strip() or None
        if isinstance(asked.value, DirectCalls):
            update["plan"] = asked.value.plan()
        return Command(update=update, goto=FINISH)
