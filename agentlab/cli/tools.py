"""`agentlab tools`: the tools and their argument schemas (an MCP server's too)."""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agentlab.cli.session import usage_error
from agentlab.errors import ConfigError
from agentlab.mcp_servers import McpServers
from agentlab.prompts import describe_type
from agentlab.tools.arguments import argument_schema
from agentlab.tools.registry import builtin_tool, builtin_tool_names


def tools(
    as_json: Annotated[bool, typer.Option("--json", help="Print the schemas as JSON.")] = False,
    mcp: Annotated[
        Path | None,
        typer.Option(
            help='List what the MCP servers of this file offer ({"mcpServers": {...}}) instead '
            "of the built-in tools."
        ),
    ] = None,
) -> None:
    """List the built-in tools (or an MCP server's) and the arguments each takes."""
    with ExitStack() as stack:
        try:
            loaded = (
                stack.enter_context(McpServers.from_file(mcp)).tools
                if mcp is not None
                else [builtin_tool(name) for name in builtin_tool_names()]
            )
        except ConfigError as exc:
            raise usage_error(str(exc)) from None
        schemas = {t.name: argument_schema(t) for t in loaded}
        if as_json:
            typer.echo(json.dumps({n: s.json for n, s in schemas.items()}, indent=2))
            return
        table = Table(show_lines=True)
        table.add_column("tool", style="bold")
        table.add_column("arguments")
        table.add_column("description")
        for tool in loaded:
            schema = schemas[tool.name]
            required = set(schema.required)
            args = "\n".join(
                f"{name}{'' if name in required else '?'}: {describe_type(spec)}"
                for name, spec in schema.properties.items()
            )
            table.add_row(escape(tool.name), escape(args), escape(_described(tool.description)))
        Console().print(table)


def _described(description: Any) -> str:
    return " ".join(str(description or "").split())
