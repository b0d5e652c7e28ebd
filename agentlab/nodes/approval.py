"""approval: stops the run before a write action until a person decides (LangGraph `interrupt`).

The executor names the step (`awaiting`); this node interrupts with its
`ApprovalRequest` and resumes with the decision (`Command(resume=...)`):
approve, edit the arguments, or reject. The decision is kept in the state
under the step's key and the executor acts on it. The node does nothing
else, because LangGraph runs it again from its start on resume.
"""

from __future__ import annotations

from typing import Literal

from langchain_core.runnables import RunnableConfig
from langgraph.types import Command, interrupt

from agentlab.approvals import read_decision
from agentlab.events import ApprovalDecided
from agentlab.nodes.base import Node, traced_node
from agentlab.state import AgentState


class Approval(Node):
    name = "approval"

    @traced_node
    def __call__(self, state: AgentState, config: RunnableConfig) -> Command[Literal["executor"]]:
        request = state.get("awaiting")
        if request is None:  # nothing to ask (a resumed run that was already answered)
            return Command(goto="executor")
        decision = read_decision(interrupt(request.model_dump(mode="json")))
        self.deps.tracer.write(
            ApprovalDecided(run_id=state["run_id"], request=request, decision=decision)
        )
        return Command(
            update={"approvals": {request.key: decision}, "awaiting": None}, goto="executor"
        )
