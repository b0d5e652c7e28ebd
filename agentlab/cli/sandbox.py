"""`agentlab sandbox build|status|exec|prune`: the Docker code interpreter by hand."""

from __future__ import annotations

import sys
from pathlib import Path, PurePosixPath
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agentlab.cli.inputs import MAX_EXEC_TIMEOUT_S, exec_timeout
from agentlab.errors import AgentlabError, UnsafePathError
from agentlab.paths import contained

sandbox_app = typer.Typer(
    help="Build, inspect and try the Docker code sandbox.", no_args_is_help=True
)

out = Console()
err = Console(stderr=True)


def _fail(exc: AgentlabError) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
    return typer.Exit(code=1)


@sandbox_app.command()
def build(
    offline: Annotated[
        bool,
        typer.Option(
            help="Bootstrap the base from Debian's packages (debootstrap) instead of "
            "pulling python:3.12-slim from a registry."
        ),
    ] = False,
    base: Annotated[str | None, typer.Option(help="Base image for an online build.")] = None,
    force: Annotated[bool, typer.Option(help="Rebuild even when the image exists.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the tag.")] = False,
) -> None:
    """Build the sandbox image (skipped when an image of the same inputs exists)."""
    from agentlab.sandbox.client import connect
    from agentlab.sandbox.image import build_image

    def log(line: str) -> None:
        if not quiet:
            err.print(line, highlight=False, markup=False, soft_wrap=True)

    try:
        result = build_image(connect(), offline=offline, base=base, force=force, log=log)
    except AgentlabError as exc:
        raise _fail(exc) from exc
    if result.built:
        log(f"built {result.tag} on {result.base} in {result.seconds:.0f} s")
    out.print(result.tag, highlight=False)


@sandbox_app.command()
def status() -> None:
    """Show the engine, the image and the sandbox containers."""
    from agentlab.sandbox.client import connect, docker_host
    from agentlab.sandbox.container import LABEL, LABEL_OWNER, owner_alive
    from agentlab.sandbox.image import LABEL_BASE, image_exists, image_tag

    try:
        client = connect()
    except AgentlabError as exc:
        raise _fail(exc) from exc
    version = client.version()
    table = Table(show_header=False, box=None)
    table.add_row("engine", escape(f"{docker_host()} (Docker {version.get('Version', '?')})"))
    tag = image_tag()
    if image_exists(client, tag):
        image = client.images.get(tag)
        size = image.attrs.get("Size", 0) / 1e6
        base = image.labels.get(LABEL_BASE, "?")
        table.add_row("image", escape(f"{tag} (present, {size:.0f} MB, base {base})"))
    else:
        table.add_row("image", f"{tag} [red]missing[/red]: agentlab sandbox build --offline")
    containers = client.containers.list(all=True, filters={"label": LABEL})
    live = [c for c in containers if owner_alive(c.labels.get(LABEL_OWNER, ""))]
    table.add_row(
        "containers",
        f"{len(containers)} sandbox containers, {len(containers) - len(live)} "
        "left by exited processes (agentlab sandbox prune removes them)",
    )
    out.print(table)


@sandbox_app.command("exec")
def exec_(
    code: Annotated[str, typer.Argument(help="Python code to run; '-' reads it from stdin.")],
    timeout: Annotated[
        float,
        typer.Option(
            help=f"Seconds before the run is stopped (above 0, at most {MAX_EXEC_TIMEOUT_S:g}).",
            callback=exec_timeout,
        ),
    ] = 30.0,
    save: Annotated[
        Path | None, typer.Option(help="Directory to save the files the code writes.")
    ] = None,
) -> None:
    """Run code in a fresh sandbox and print what it printed."""
    from agentlab.sandbox.session import Session

    source = sys.stdin.read() if code == "-" else code
    try:
        with Session.start() as session:
            result = session.run(source, timeout=timeout)
    except AgentlabError as exc:
        raise _fail(exc) from exc
    if result.stdout:
        sys.stdout.write(result.stdout if result.stdout.endswith("\n") else result.stdout + "\n")
    if result.stderr:
        sys.stderr.write(result.stderr if result.stderr.endswith("\n") else result.stderr + "\n")
    if result.result is not None:
        out.print(result.result, highlight=False, markup=False)
    for file in result.files:
        # The file's name is chosen by the sandboxed code: saved only as a plain name in --save.
        if save is not None and file.data is not None:
            _save(save, file.path, file.data)
        err.print(f"[dim]file {escape(file.path)} ({file.size} bytes)[/dim]", highlight=False)
    if not result.ok:
        message = result.error.traceback or result.error.message if result.error else ""
        err.print(f"[red]{result.status.value}[/red] {escape(message)}".rstrip(), highlight=False)
        raise typer.Exit(code=1)


def _save(folder: Path, name: str, data: bytes) -> None:
    """Write a file the sandboxed code produced under `folder`, or say why it was not."""
    try:
        target = contained(folder, PurePosixPath(name).name)
        folder.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    except (UnsafePathError, OSError) as exc:
        err.print(f"[yellow]not saved[/yellow] {escape(name)}: {escape(str(exc))}", highlight=False)


@sandbox_app.command()
def prune(
    all_: Annotated[
        bool, typer.Option("--all", help="Remove every sandbox container, live owner or not.")
    ] = False,
    images: Annotated[
        bool, typer.Option(help="Also remove sandbox images built from older inputs.")
    ] = False,
) -> None:
    """Remove sandbox containers left behind by processes that exited or crashed."""
    from agentlab.sandbox.client import connect
    from agentlab.sandbox.image import remove_stale_images
    from agentlab.sandbox.pool import prune as prune_containers

    try:
        client = connect()
        removed = prune_containers(client, everything=all_)
        stale = remove_stale_images(client) if images else []
    except AgentlabError as exc:
        raise _fail(exc) from exc
    out.print(f"removed {len(removed)} containers" + (f", {len(stale)} images" if images else ""))
