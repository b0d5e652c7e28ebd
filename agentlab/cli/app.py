"""The root `agentlab` command and its sub-commands."""

from __future__ import annotations

from typing import Annotated

import typer

from agentlab import __version__
from agentlab.cli.agents import agents
from agentlab.cli.chat import chat
from agentlab.cli.eval import eval_command
from agentlab.cli.failures import failures
from agentlab.cli.memory import memory_app
from agentlab.cli.models import models_app
from agentlab.cli.run import run
from agentlab.cli.sandbox import sandbox_app
from agentlab.cli.search import index_app, search
from agentlab.cli.serve import serve
from agentlab.cli.tools import tools
from agentlab.cli.traces import traces_app

app = typer.Typer(
    name="agentlab",
    help="Plan, validate, execute and reflect with typed tools; measure every failure.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"agentlab {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print agentlab's version and exit.",
        ),
    ] = False,
) -> None:
    """Plan, validate, execute and reflect with typed tools; measure every failure."""


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
app.add_typer(traces_app, name="traces")
app.command()(serve)


def main() -> None:
    """Console-script entry point."""
    app()
