"""`agentlab search QUERY` and `agentlab index build DIR`: the search tool from the terminal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from agentlab.errors import ConfigError, ToolError
from agentlab.tools.search import (
    LocalIndex,
    SearchResults,
    SearchTool,
    WebHit,
    shipped_corpus,
)
from agentlab.tools.search.index import DEFAULT_CHUNK_WORDS, DEFAULT_OVERLAP_WORDS

index_app = typer.Typer(
    help="Build the BM25 index of a folder of documents for `agentlab search`.",
    no_args_is_help=True,
)


def _fail(message: str, code: int) -> typer.Exit:
    Console(stderr=True, soft_wrap=True).print(
        f"[red]error:[/red] {escape(message)}", highlight=False
    )
    return typer.Exit(code)


@index_app.command("build")
def build(
    corpus: Annotated[
        Path | None,
        typer.Argument(help="Folder of .md .txt .html .pdf files (default: the shipped corpus)."),
    ] = None,
    chunk_words: Annotated[int, typer.Option(help="Words per chunk.")] = DEFAULT_CHUNK_WORDS,
    overlap_words: Annotated[
        int, typer.Option(help="Words each chunk shares with the one before.")
    ] = DEFAULT_OVERLAP_WORDS,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Index CORPUS, or reuse its stored index when no file changed since the last build."""
    try:
        index = LocalIndex(
            corpus or shipped_corpus(), chunk_words=chunk_words, overlap_words=overlap_words
        )
        status = index.open()
    except ConfigError as exc:
        raise _fail(str(exc), 2) from None
    if as_json:
        record = {
            "corpus": str(index.corpus),
            "location": str(status.location),
            "built": status.built,
            "files": status.files,
            "chunks": status.chunks,
            "seconds": round(status.seconds, 4),
            "skipped": [skipped.to_json() for skipped in status.skipped],
        }
        typer.echo(json.dumps(record))
        return
    console = Console()
    what = "built" if status.built else "up to date, reused"
    console.print(
        f"{what}: {status.files} files, {status.chunks} chunks in {status.seconds:.2f} s\n"
        f"  {escape(str(status.location))}",
        highlight=False,
    )
    for skipped in status.skipped:
        console.print(
            f"[yellow]skipped[/yellow] {escape(skipped.path)}: {escape(skipped.detail)}",
            highlight=False,
        )


def search(
    query: Annotated[str, typer.Argument(help="Keywords or a question.")],
    backend: Annotated[
        str, typer.Option(help="web, local, or auto (web when reachable, else local).")
    ] = "auto",
    corpus: Annotated[
        Path | None,
        typer.Option(help="Folder the local backend searches (default: the shipped corpus)."),
    ] = None,
    max_results: Annotated[int, typer.Option("-n", "--max-results", min=1, max=20)] = 5,
    region: Annotated[str | None, typer.Option(help="Web region, e.g. us-en, de-de.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the typed results as JSON.")
    ] = False,
) -> None:
    """Search the web or a folder of documents, as the agent's `search` tool does."""
    if backend not in {"auto", "web", "local"}:
        raise _fail(f"unknown backend {backend!r}; use web, local or auto", 2)
    if corpus is not None:
        if backend == "web":
            raise _fail("--corpus is for the local backend; drop it or use --backend local", 2)
        backend = "local"  # naming a folder means searching it
    try:
        tool = SearchTool(backend=backend, corpus=corpus)
        results: SearchResults = tool.invoke(
            {"query": query, "max_results": max_results, "region": region}
        )
    except ConfigError as exc:
        raise _fail(str(exc), 2) from None
    except ToolError as exc:
        raise _fail(f"search failed: {exc.message}", 1) from None
    if as_json:
        typer.echo(results.model_dump_json(exclude={"artifacts"}))
        return
    _render(Console(), results)


def _render(console: Console, results: SearchResults) -> None:
    if not results.hits:
        console.print(results.as_text(), highlight=False, markup=False)
        return
    for hit in results.hits:
        if isinstance(hit, WebHit):
            where = f"[cyan]{escape(hit.url)}[/cyan]"
        else:
            where = f"[cyan]{escape(hit.path)}[/cyan] chunk {hit.chunk}, score {hit.score:.2f}"
        console.print(f"[bold]{hit.rank}. {escape(hit.title)}[/bold]  {where}", highlight=False)
        console.print(f"   {escape(hit.snippet)}", highlight=False, soft_wrap=True)
    if results.cached:
        console.print("[dim](from the cache)[/dim]")
