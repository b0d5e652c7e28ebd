"""The root `agentlab` command and its sub-commands."""

from __future__ import annotations

import typer

from agentlab.cli.agents import agents
from agentlab.cli.chat import chat
from agentlab.cli.eval import eval_command
from agentlab.cli.failures import failures
from agentlab.cli.memory import memory_app
from agentlab.cli.models import models_app
from agentlab.cli.run import run
from agentlab.cli.sandbox import sandbox_app
from agentlab.cli.search import index_app, search
from agentlab.cli.tools import tools

app = typer.Typer(
    name="agentlab",
    help="Plan, validate, execute and reflect with typed tools; measure every failure.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command()(run)
app.command()(tools)
app.command()(agents)
app.add_typer(models_app, name="models")
app.command()(chat)
app.add_typer(memory_app, name="memory")
app.command("eval")(eval_command)
app.command()(failures)
app.add_typer(sandbox_app, name="sandbox")
app.command()(search)
app.add_typer(index_app, name="index")


def main() -> None:
    """Console-script entry point."""
    app()
