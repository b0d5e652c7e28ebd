"""`agentlab agents`: the example agents `agentlab run --agent NAME` can run."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agentlab.agents import agent_names, load_agent
from agentlab.cli.corpus import describe_search
from agentlab.cli.session import usage_error
from agentlab.errors import ConfigError


def agents(
    agent: Annotated[
        list[str] | None,
        typer.Argument(help="Show only these: names, or paths of your own agent.yaml files."),
    ] = None,
) -> None:
    """List the example agents and baselines, their tools, where they search and how many
    example tasks each ships.

    `agentlab run --agent NAME` runs one of them by its name here. An agent of your own is
    an agent.yaml file (description, tools, config, corpus: folders of documents, tasks and
    mcp: files beside it), given as a path: `--agent ./my-agent/agent.yaml`. Any other value is
    refused. The `searches` column says which documents (or the web) the agent's search
    tool reads; `--corpus DIR` on `run`, `chat` and `eval` points it at a folder of yours."""
    table = Table()
    for column in ("agent", "tools", "searches", "tasks", "description"):
        table.add_column(column)
    for name in agent or agent_names():
        try:
            spec = load_agent(name)
            cells = (
                spec.name,
                ("all" if spec.tools is None else ", ".join(spec.tools) or "none")
                + (f" + the MCP servers of {spec.mcp}" if spec.mcp is not None else ""),
                describe_search(spec.agent_config()),
                str(len(spec.tasks())),
                spec.description,
            )
        except (ConfigError, OSError, ValueError) as exc:
            raise usage_error(str(exc)) from None
        table.add_row(*(escape(cell) for cell in cells))
    Console().print(table)
