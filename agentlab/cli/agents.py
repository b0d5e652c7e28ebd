"""`agentlab agents`: the example agents `agentlab run --agent NAME` can run."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from agentlab.agents import agent_names, load_agent


def agents() -> None:
    """List the example agents, their tools and how many example tasks each ships."""
    table = Table()
    for column in ("agent", "tools", "tasks", "description"):
        table.add_column(column)
    for name in agent_names():
        spec = load_agent(name)
        table.add_row(name, ", ".join(spec.tools), str(len(spec.tasks())), spec.description)
    Console().print(table)
