"""`direct`: the bare model, asked to reason step by step and answer, without tools.

```
START -> begin -> agent -> finish -> END
```

One structured reply, `{"reasoning": ..., "answer": ...}`, through the same
path as agentlab's planner (schema enforced while decoding where the backend
can); reasoning comes first so the model works the task out before it commits
to an answer.
"""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.types import Command
from pydantic import BaseModel, ConfigDict, Field

from agentlab import lifecycle
from agentlab.baselines.common import AGENT, FINISH
from agentlab.baselines.prompts import DIRECT_SYSTEM, TASK
from agentlab.nodes.asking import ask_structured
from agentlab.nodes.base import Node, traced_node
from agentlab.state import AgentState
from agentlab.stops import NoAnswer

NO_REPLY = "no answer: the model's replies never parsed as an answer ({attempts} attempts)"


class DirectAnswer(BaseModel):
    """The bare model's reply."""

    model_config = ConfigDict(extra="ignore")

    reasoning: str = Field(description="The task worked out step by step")
    answer: str = Field(description="The final answer, the value only")


class DirectAgent(Node):
    """Asks the model once (retrying a reply that does not parse, within budget)."""

    name = AGENT

    @traced_node
    def __call__(self, state: AgentState, config: RunnableConfig) -> Command[Literal["finish"]]:
        messages = [
            SystemMessage(content=DIRECT_SYSTEM),
            HumanMessage(content=TASK.format(task=state["task"])),
        ]
        asked = ask_structured(self.deps, state, messages, DirectAnswer, node=self.name)
        update: dict[str, Any] = {"failures": asked.failures, "counters": asked.counters}
        if asked.stop is not None or asked.value is None:
            attempts = 1 + self.deps.config.budgets.max_output_retries
            reason = asked.stop or NoAnswer(detail=NO_REPLY.format(attempts=attempts))
            update |= lifecycle.stop(
                self.deps, state, reason, node=self.name, failures=asked.failures
            )
        else:
            update["answer"] = asked.value.answer.strip() or None
        return Command(update=update, goto=FINISH)
