"""`agentlab traces upgrade PATH...`: convert traces of an older format into the current one."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from agentlab.cli.inputs import folder
from agentlab.errors import ConfigError, TraceError
from agentlab.paths import contained
from agentlab.trace_upgrade import upgrade_file

traces_app = typer.Typer(help="Trace files: convert older formats.", no_args_is_help=True)

out = Console()
err = Console(stderr=True)


def _sources(paths: list[Path], target: Path | None) -> list[tuple[Path, Path | None]]:
    """(trace file, where its upgrade goes: None for in place) for every `*.jsonl` given or
    found under a folder given, in order."""
    found: list[tuple[Path, Path | None]] = []
    for path in paths:
        if path.is_dir():
            for file in sorted(path.rglob("*.jsonl")):
                parts = file.relative_to(path).parts
                found.append((file, contained(target, *parts) if target else None))
        elif path.is_file():
            found.append((path, contained(target, path.name) if target else None))
        else:
            raise ConfigError(f"{path} is neither a trace file nor a folder of traces")
    targets = [t for _, t in found if t is not None]
    if len(set(targets)) != len(targets):
        raise ConfigError(f"two traces would be written to the same file in --out {target}")
    return found


@traces_app.command("upgrade")
def upgrade(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Trace files or folders of traces (searched recursively)."),
    ],
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Write the upgraded traces here (same names) instead of in place."
        ),
    ] = None,
) -> None:
    """Convert traces written before typed events (agentlab 0.1: a header without
    schema_version) into the current format, in place or into --out. Current traces and
    files that are no trace (cassettes, suites) are left alone. Exit 1 when a trace could
    not be converted."""
    try:
        target = folder(out_dir, "--out") if out_dir is not None else None
        sources = _sources(paths, target)
    except ConfigError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from None
    counts: Counter[str] = Counter()
    for source, destination in sources:
        try:
            done = upgrade_file(source, destination)
        except (TraceError, OSError) as exc:
            counts["failed"] += 1
            err.print(f"[red]cannot upgrade[/red] {escape(str(exc))}", highlight=False)
            continue
        counts[done.outcome] += 1
        if done.outcome == "upgraded":
            out.print(
                f"upgraded {done.source} -> {done.target} ({done.events} events)",
                highlight=False,
                markup=False,
            )
    out.print(
        f"{counts['upgraded']} upgraded, {counts['current']} already current, "
        f"{counts['not a trace']} not traces (left alone), {counts['failed']} failed",
        highlight=False,
        markup=False,
    )
    if counts["failed"]:
        raise typer.Exit(1)
