"""The `agentlab` command line (typer + rich). The core never imports this package."""

from agentlab.cli.app import app, main

__all__ = ["app", "main"]
