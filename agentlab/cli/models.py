"""`agentlab models`: the embedded models, whether they are ready, and the cache they live in."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agentlab.llm.spec import DEFAULT_LOCAL_MODEL
from agentlab.llm.weights import (
    LOCAL_MODELS,
    cached_files,
    installed,
    models_dir,
    prune,
    ready,
)
from agentlab.settings import MODELS_DIR_ENV

models_app = typer.Typer(
    help="The local models: installed packages, size, readiness, and the shared cache.",
    invoke_without_command=True,
    no_args_is_help=False,
)


def _size(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


@models_app.callback()
def models(
    ctx: typer.Context,
    prepare: Annotated[
        str | None,
        typer.Option(help="Join and verify this model's weights now (e.g. qwen2.5-coder-1.5b)."),
    ] = None,
) -> None:
    """List the local models: installed packages, size, whether the weights are ready, and
    where the joined weights are cached (one cache per user, shared by every project)."""
    if ctx.invoked_subcommand is not None:
        return
    console = Console()
    if prepare:
        from agentlab.llm.weights import gguf_path, model_spec

        path = gguf_path(model_spec(prepare))
        console.print(f"ready: {escape(str(path))}", highlight=False)
        return
    table = Table()
    for column in ("model", "installed", "size", "ready", "about"):
        table.add_column(column)
    for name, spec in LOCAL_MODELS.items():
        is_installed = installed(spec)
        size = _size(spec.size) if spec.size else "-"
        is_ready = ready(spec) if is_installed else False
        state = "yes" if is_ready else ("on first use" if is_installed else "no")
        marker = " (default)" if f"local:{name}" == DEFAULT_LOCAL_MODEL else ""
        table.add_row(
            f"local:{name}{marker}", "yes" if is_installed else "no", size, state, spec.description
        )
    console.print(table)
    files = cached_files()
    total = sum(f.size for f in files)
    console.print(
        f"cache: {escape(str(models_dir()))} ({len(files)} files, {_size(total)}; "
        f"set {MODELS_DIR_ENV} to move it; `agentlab models prune` empties it)",
        highlight=False,
        soft_wrap=True,
    )
    for cached in files:
        console.print(f"  [dim]{escape(cached.path.name)}  {_size(cached.size)}[/dim]")


@models_app.command("prune")
def prune_command() -> None:
    """Remove the joined weights from the cache (rejoined from the packages on next use)."""
    removed = prune()
    freed = sum(f.size for f in removed)
    Console().print(
        f"removed {len(removed)} files ({_size(freed)}) from {escape(str(models_dir()))}",
        highlight=False,
        soft_wrap=True,
    )
