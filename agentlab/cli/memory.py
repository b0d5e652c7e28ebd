"""`agentlab memory list|search|forget|export`: the long-term memories by hand."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agentlab.cli.session import default_user, usage_error
from agentlab.errors import ConfigError
from agentlab.memory import LongTermMemory, Memory, MemoryKind, open_store
from agentlab.memory.backends import StoreFileError

memory_app = typer.Typer(
    help="List, search, forget and export long-term memories.", no_args_is_help=True
)

User = Annotated[
    str | None, typer.Option(help="Whose memories (default AGENTLAB_USER or 'default').")
]
Agent = Annotated[str, typer.Option(help="Which agent's memories.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON lines.")]


@contextmanager
def _memory(user: str | None, agent: str) -> Iterator[LongTermMemory]:
    with ExitStack() as stack:
        try:
            store = open_store(stack)
        except StoreFileError as exc:
            # Not a usage error: the file under AGENTLAB_HOME is broken.
            Console(stderr=True).print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
            raise typer.Exit(1) from None
        except ConfigError as exc:
            raise usage_error(str(exc)) from None
        try:
            yield LongTermMemory(store, user=user or default_user(), agent=agent)
        except sqlite3.Error as exc:
            message = f"the memory database failed ({exc}); move AGENTLAB_HOME/memory.sqlite aside"
            Console(stderr=True).print(f"[red]error:[/red] {escape(message)}", highlight=False)
            raise typer.Exit(1) from None


def _table(rows: list[tuple[Memory, float | None]], scores: bool) -> Table:
    table = Table(show_lines=False)
    for column in ("id", "kind", *(("score",) if scores else ()), "source", "updated", "text"):
        table.add_column(column, overflow="fold")
    for memory, score in rows:
        cells = [memory.id, memory.kind.value]
        if scores:
            cells.append("" if score is None else f"{score:.3f}")
        note = f" (replaced: {memory.supersedes[-1].text})" if memory.supersedes else ""
        cells += [_provenance(memory), memory.updated_at, memory.text + note]
        # Memories hold task text and tool output: shown as text, never as markup.
        table.add_row(*(escape(cell) for cell in cells))
    return table


def _provenance(memory: Memory) -> str:
    """`user, run 3f2a9c1d`: who the text comes from and the run that wrote it."""
    if memory.provenance is None:
        return "unknown"  # stored before provenance was recorded
    run = memory.provenance.run_id
    return escape(f"{memory.provenance.source}, run {run[:8]}" if run else memory.provenance.source)


@memory_app.command("list")
def list_(
    kind: Annotated[MemoryKind | None, typer.Option(help="Only this kind.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 50,
    user: User = None,
    agent: Agent = "agentlab",
    as_json: AsJson = False,
) -> None:
    """Memories, most recently updated first."""
    with _memory(user, agent) as memory:
        memories = memory.list(kind=kind, limit=limit)
    if as_json:
        for m in memories:
            typer.echo(m.model_dump_json())
        return
    Console().print(_table([(m, None) for m in memories], scores=False))


@memory_app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    limit: Annotated[int, typer.Option(help="At most this many.")] = 10,
    user: User = None,
    agent: Agent = "agentlab",
    as_json: AsJson = False,
) -> None:
    """Memories ranked by relevance to QUERY (semantic, or by words without an embedder)."""
    with _memory(user, agent) as memory:
        found = memory.search(query, limit=limit)
    if as_json:
        for r in found:
            typer.echo(json.dumps({**r.memory.model_dump(mode="json"), "score": r.score}))
        return
    Console().print(_table([(r.memory, r.score) for r in found], scores=True))


@memory_app.command()
def forget(
    memory_id: Annotated[str, typer.Argument(metavar="ID", help="The memory's id.")],
    user: User = None,
    agent: Agent = "agentlab",
) -> None:
    """Delete one memory. Exit code 1 when there is none with that id."""
    with _memory(user, agent) as memory:
        removed = memory.forget(memory_id)
    if not removed:
        Console(stderr=True).print(f"no memory with id {memory_id}", highlight=False, markup=False)
        raise typer.Exit(1)
    Console().print(f"forgot {memory_id}", highlight=False, markup=False)


@memory_app.command()
def export(
    user: User = None,
    agent: Agent = "agentlab",
) -> None:
    """Every memory as JSON lines, oldest first (with sources and what each superseded)."""
    with _memory(user, agent) as memory:
        for record in memory.export():
            typer.echo(json.dumps(record, ensure_ascii=False))
