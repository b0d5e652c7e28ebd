"""`agentlab agents`: the example agents `agentlab run --agent NAME` can run."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agentlab.agents import agent_names, load_agent


def agents() -> None:
    """List the example agents and baselines, their tools and how many example tasks each ships.

    `agentlab run --agent NAME` runs one of them by its name here. An agent of your own is
    an agent.yaml file (description, tools, config, tasks and mcp: files beside it), given as a
    path: `--agent ./my-agent/agent.yaml`. Any other value is refused."""
    table = Table()
    for column in ("agent", "tools", "tasks", "description"):
        table.add_column(column)
    for name in agent_names():
        spec = load_agent(name)
        tools = "all" if spec.tools is None else ", ".join(spec.tools) or "none"
        if spec.mcp is not None:
            tools += f" + the MCP servers of {spec.mcp}"
        table.add_row(
            *(escape(cell) for cell in (name, tools, str(len(spec.tasks())), spec.description))
        )
    Console().print(table)
