"""agentlab: an agent framework on a LangGraph state graph.

An agent plans a task as typed tool calls, validates the plan, executes the
steps (in parallel where it can), reflects on the results, and records every
failure under a fixed taxonomy.
"""

from agentlab.config import VARIANTS, AgentConfig, Budgets
from agentlab.errors import (
    AgentlabError,
    ConfigError,
    ContextOverflowError,
    ModelAPIError,
    ModelError,
    ReplayExhaustedError,
    SandboxUnavailableError,
    ToolError,
    UnsafePathError,
)
from agentlab.failures import FailureCategory, FailureEvent
from agentlab.graph import build_agent
from agentlab.schemas import Plan, Reflection, Step
from agentlab.state import AgentState, StepResult

__version__ = "0.1.0"

__all__ = [
    "VARIANTS",
    "AgentConfig",
    "AgentState",
    "AgentlabError",
    "Budgets",
    "ConfigError",
    "ContextOverflowError",
    "FailureCategory",
    "FailureEvent",
    "ModelAPIError",
    "ModelError",
    "Plan",
    "Reflection",
    "ReplayExhaustedError",
    "SandboxUnavailableError",
    "Step",
    "StepResult",
    "ToolError",
    "UnsafePathError",
    "build_agent",
]
