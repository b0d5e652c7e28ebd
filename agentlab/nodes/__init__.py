"""The graph's nodes, one module each, in the order a run visits them.

Each node's `__call__` returns a `Command` whose `Literal` annotation names the
nodes it may go to next; LangGraph draws the edges from it.
"""

from agentlab.nodes.approval import Approval
from agentlab.nodes.base import AgentDeps
from agentlab.nodes.executor import Executor
from agentlab.nodes.finalizer import Finalizer
from agentlab.nodes.joiner import Joiner
from agentlab.nodes.planner import Planner
from agentlab.nodes.recall import Recall
from agentlab.nodes.reflector import Reflector
from agentlab.nodes.remember import Remember
from agentlab.nodes.validator import Validator

__all__ = [
    "AgentDeps",
    "Approval",
    "Executor",
    "Finalizer",
    "Joiner",
    "Planner",
    "Recall",
    "Reflector",
    "Remember",
    "Validator",
]
