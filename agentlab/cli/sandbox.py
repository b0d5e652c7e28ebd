"""`agentlab sandbox build|status|exec|prune`: the Docker code interpreter by hand."""

from __future__ import annotations

import typer

sandbox_app = typer.Typer(
    help="Build, inspect and try the Docker code sandbox.", no_args_is_help=True
)
