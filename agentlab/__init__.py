"""agentlab: an agent framework on a LangGraph state graph.

An agent plans a task as typed tool calls, validates the plan, executes the
steps (in parallel where it can), reflects on the results, and records every
failure under a fixed taxonomy.
"""

from agentlab.config import VARIANTS, AgentConfig, Budgets
from agentlab.context import RunContext
from agentlab.errors import (
    AgentlabError,
    ConfigError,
    ContextOverflowError,
    ModelAPIError,
    ModelError,
    ReplayExhaustedError,
    SandboxUnavailableError,
    ToolError,
    TraceError,
    UnsafePathError,
)
from agentlab.failures import FailureCategory, FailureEvent
from agentlab.graph import build_agent
from agentlab.schemas import Plan, Reflection, Step
from agentlab.state import AgentState, StepResult
from agentlab.stops import Answered, Budget, Errored, Interrupted, NoAnswer, StopReason

__version__ = "0.1.0"

__all__ = [
    "VARIANTS",
    "AgentConfig",
    "AgentState",
    "AgentlabError",
    "Answered",
    "Budget",
    "Budgets",
    "ConfigError",
    "ContextOverflowError",
    "Errored",
    "FailureCategory",
    "FailureEvent",
    "Interrupted",
    "ModelAPIError",
    "ModelError",
    "NoAnswer",
    "Plan",
    "Reflection",
    "ReplayExhaustedError",
    "RunContext",
    "SandboxUnavailableError",
    "Step",
    "StepResult",
    "StopReason",
    "ToolError",
    "TraceError",
    "UnsafePathError",
    "build_agent",
]
