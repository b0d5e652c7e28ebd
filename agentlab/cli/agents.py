"""`agentlab agents`: the example agents `agentlab run --agent NAME` can run."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from agentlab.agents import agent_names, load_agent


def agents() -> None:
    """List the example agents and baselines, their tools and how many example tasks each ships."""
    table = Table()
    for column in ("agent", "tools", "tasks", "description"):
        table.add_column(column)
    for name in agent_names():
        spec = load_agent(name)
        tools = "all" if spec.tools is None else ", ".join(spec.tools) or "none"
        table.add_row(name, tools, str(len(spec.tasks())), spec.description)
    Console().print(table)
