"""agentlab's typed tools and their registry (installed as `agentlab.tools`)."""

from agentlab.tools.base import (
    AgentTool,
    Artifact,
    RunScoped,
    ToolOutput,
    ToolRunContext,
    WriteTool,
    output_text,
    tool_run_context,
    tool_timeout,
)
from agentlab.tools.registry import (
    BUILTIN_TOOLS,
    ToolRegistry,
    builtin_tool,
    builtin_tool_names,
    default_registry,
)

__all__ = [
    "BUILTIN_TOOLS",
    "AgentTool",
    "Artifact",
    "RunScoped",
    "ToolOutput",
    "ToolRegistry",
    "ToolRunContext",
    "WriteTool",
    "builtin_tool",
    "builtin_tool_names",
    "default_registry",
    "output_text",
    "tool_run_context",
    "tool_timeout",
]
