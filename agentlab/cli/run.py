"""`agentlab run TASK`: run an agent and watch it plan, execute and reflect."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from agentlab.cli.render import RunRenderer
from agentlab.config import AgentConfig
from agentlab.errors import ConfigError
from agentlab.runner import Runner


def _usage_error(message: str) -> typer.Exit:
    Console(stderr=True).print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(2)


def run(
    task: Annotated[str, typer.Argument(help="What the agent should do.")],
    model: Annotated[
        str | None,
        typer.Option(
            help="openai:MODEL, local:NAME or replay:PATH (default: AGENTLAB_MODEL, "
            "else openai when OPENAI_API_KEY is set, else the embedded model)."
        ),
    ] = None,
    tools: Annotated[
        str | None, typer.Option(help="Comma-separated tool inventory, e.g. calculator,python.")
    ] = None,
    no_validator: Annotated[
        bool, typer.Option("--no-validator", help="Skip plan validation.")
    ] = False,
    no_reflection: Annotated[
        bool, typer.Option("--no-reflection", help="Answer with the last step's result.")
    ] = False,
    variant: Annotated[
        str | None,
        typer.Option(help="Named variant: full, no-validator, no-reflection, no-TOOL..."),
    ] = None,
    record: Annotated[
        Path | None, typer.Option(help="Write every model exchange to this cassette.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON result, nothing else.")
    ] = False,
    trace_dir: Annotated[
        Path | None, typer.Option(help="Where traces go (default AGENTLAB_HOME/runs).")
    ] = None,
) -> None:
    """Run TASK. Exit code 0 when answered, 1 when not, 2 on a usage error."""
    try:
        config = AgentConfig()
        if variant:
            config = config.with_variant(variant)
        updates: dict[str, object] = {}
        if tools:
            updates["tools"] = tuple(t.strip() for t in tools.split(",") if t.strip())
        if no_validator:
            updates["validator"] = False
        if no_reflection:
            updates["reflection"] = False
        if updates:
            config = config.model_copy(update=updates)
        runner = Runner(config, model=model, trace_dir=trace_dir, record=record)
    except ConfigError as exc:
        raise _usage_error(str(exc)) from None
    console = Console()
    renderer = RunRenderer(console)
    result = runner.run(task, on_event=None if as_json else renderer.handle)
    if as_json:
        typer.echo(json.dumps(result.to_json(), ensure_ascii=False))
    else:
        renderer.result(result)
    raise typer.Exit(result.exit_code)
