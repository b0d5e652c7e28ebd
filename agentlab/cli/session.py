"""What `agentlab run` and `agentlab chat` share: custom tools, memory backends, the runner."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from agentlab import settings
from agentlab.cli.tool_specs import custom_tools
from agentlab.config import AgentConfig
from agentlab.mcp_servers import McpServers
from agentlab.memory import Backends, open_backends
from agentlab.memory.settings import MemorySettings
from agentlab.runner import Runner
from agentlab.tools.registry import builtin_names_for


def usage_error(message: str) -> typer.Exit:
    Console(stderr=True).print(f"[red]error:[/red] {escape(message)}", highlight=False)
    return typer.Exit(2)


def default_user() -> str:
    """`AGENTLAB_USER`, else "default": whose long-term memories the CLI reads and writes."""
    return settings.current().user or "default"


def open_runner(
    config: AgentConfig,
    *,
    stack: ExitStack,
    model: str | None,
    tool_specs: Sequence[str] = (),
    trace_dir: Path | None = None,
    record: Path | None = None,
    threads: bool,
    agent: str = "agentlab",
    mcp: Path | None = None,
) -> Runner:
    """A runner with the checkpointer (when `threads`), the long-term store (when
    `config.memory`) and the MCP servers of the `mcp` file open; all close with `stack`.
    The servers' tools join the inventory (an inventory chosen by name gets them too)."""
    extra = custom_tools(tool_specs)
    if mcp is not None:
        served = stack.enter_context(McpServers.from_file(mcp)).tools
        extra += served
        if config.tools is not None:
            config = config.model_copy(update={"tools": (*config.tools, *(t.name for t in served))})
    tools = [*builtin_names_for(config.tools), *extra] if extra else None
    backends: Backends = stack.enter_context(open_backends(threads=threads, memory=config.memory))
    return Runner(
        config,
        model=model,
        tools=tools,
        trace_dir=trace_dir,
        record=record,
        checkpointer=backends.checkpointer,
        store=backends.store,
        memory=MemorySettings(agent=agent),
    )
