"""`agentlab models`: the embedded models, whether they are installed and ready."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agentlab.llm.spec import DEFAULT_LOCAL_MODEL
from agentlab.llm.weights import LOCAL_MODELS, installed, joined_path, ready


def models(
    prepare: Annotated[
        str | None,
        typer.Option(help="Join and verify this model's weights now (e.g. qwen2.5-coder-1.5b)."),
    ] = None,
) -> None:
    """List the local models: installed packages, size, and whether the weights are ready."""
    console = Console()
    if prepare:
        from agentlab.llm.weights import gguf_path, model_spec

        path = gguf_path(model_spec(prepare))
        console.print(f"ready: {path}", highlight=False, markup=False)
        return
    table = Table()
    for column in ("model", "installed", "size", "ready", "about"):
        table.add_column(column)
    for name, spec in LOCAL_MODELS.items():
        is_installed = installed(spec)
        size = f"{spec.size / 1e9:.2f} GB" if spec.size else "-"
        is_ready = ready(spec) if is_installed else False
        state = "yes" if is_ready else ("on first use" if is_installed else "no")
        marker = " (default)" if f"local:{name}" == DEFAULT_LOCAL_MODEL else ""
        table.add_row(
            f"local:{name}{marker}", "yes" if is_installed else "no", size, state, spec.description
        )
    console.print(table)
    for spec in LOCAL_MODELS.values():
        if spec.chunked and ready(spec):
            console.print(
                f"[dim]{escape(spec.name)}: {escape(str(joined_path(spec)))}[/dim]", highlight=False
            )
