"""`agentlab tools`: the tools and their argument schemas."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agentlab.tools.registry import builtin_tool, builtin_tool_names


def tools(
    as_json: Annotated[bool, typer.Option("--json", help="Print the schemas as JSON.")] = False,
) -> None:
    """List the built-in tools and the arguments each takes."""
    loaded = [builtin_tool(name) for name in builtin_tool_names()]
    schemas = {t.name: t.get_input_schema().model_json_schema() for t in loaded}
    if as_json:
        typer.echo(json.dumps(schemas, indent=2))
        return
    table = Table(show_lines=True)
    table.add_column("tool", style="bold")
    table.add_column("arguments")
    table.add_column("description")
    for tool in loaded:
        schema = schemas[tool.name]
        required = set(schema.get("required", []))
        args = "\n".join(
            f"{name}{'' if name in required else '?'}: {spec.get('type', 'any')}"
            for name, spec in schema.get("properties", {}).items()
        )
        table.add_row(escape(tool.name), escape(args), escape(tool.description))
    Console().print(table)
