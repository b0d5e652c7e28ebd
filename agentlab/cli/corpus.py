"""`--corpus DIR` and `--backend` for `run`, `chat` and `eval`: which documents `search` reads,
and the index of each folder built (or found current) before the agent starts.

The index is opened here, not at the agent's first search, so a first build of a large
folder shows its progress and never runs into the tool's timeout.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, get_args

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

from agentlab.config import AgentConfig
from agentlab.errors import ConfigError
from agentlab.tools.search import IndexStatus, shared_index
from agentlab.tools.search.index import IndexProgress
from agentlab.tools.search.tool import Backend, config_backend, config_corpus, corpus_folders

SKIPPED_SHOWN = 20
"""Skipped files listed one by one after a build; `agentlab index build DIR` lists them all."""

CorpusOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--corpus",
        help="A folder of your documents (.md .txt .html .pdf) for the search tool; repeat "
        "for several. Implies --backend local. Default: AGENTLAB_CORPUS, else the shipped "
        "handbook.",
    ),
]
BackendOption = Annotated[
    str | None,
    typer.Option(
        "--backend",
        help="Where search looks: local (the corpus), web, or auto (web when reachable). "
        "Default: local when a corpus is named, else auto.",
    ),
]


def with_corpus(
    config: AgentConfig, corpus: Sequence[Path] | None, backend: str | None
) -> AgentConfig:
    """`config` with the `--corpus` folders and the `--backend` given; raises `ConfigError`."""
    updates: dict[str, object] = {}
    if backend is not None:
        if backend not in get_args(Backend):
            raise ConfigError(f"unknown backend {backend!r}; use local, web or auto")
        updates["search_backend"] = backend
    if corpus:
        if backend == "web":
            raise ConfigError("--corpus is for the local backend; drop it or use --backend local")
        if not _searches(config):
            raise ConfigError(
                "--corpus is for the search tool, which this agent does not have; "
                "add it with --tools search or run --agent researcher"
            )
        for folder in corpus:
            if not folder.expanduser().is_dir():
                raise ConfigError(f"--corpus {folder} does not exist or is not a folder")
        updates["search_corpus"] = tuple(f.expanduser().resolve() for f in corpus)
    return config.model_copy(update=updates)


def searched_folders(config: AgentConfig) -> tuple[Path, ...]:
    """The folders the agent's `search` reads when its backend is local; none when it has
    no search tool or searches the web (or decides at its first search, `auto`)."""
    if not _searches(config) or config_backend(config) != "local":
        return ()
    folders: tuple[Path, ...] = corpus_folders(config_corpus(config))
    return folders


def describe_search(config: AgentConfig) -> str:
    """Where an agent with `config` searches, for `agentlab agents`."""
    if not _searches(config):
        return "-"
    corpus = config_corpus(config)
    documents = ", ".join(str(f) for f in corpus) if corpus else "the shipped handbook"
    backend = config_backend(config)
    if backend == "web":
        return "the web"
    return documents if backend == "local" else f"the web, offline: {documents}"


def _searches(config: AgentConfig) -> bool:
    # The inventory may name custom tools too, so it is not resolved against the built-ins.
    named = config.tools is None or "search" in config.tools
    return named and "search" not in config.without_tools


def prepare_indexes(config: AgentConfig, console: Console) -> None:
    """Open the index of every folder an agent with `config` searches (`prepare_folders`)."""
    prepare_folders(searched_folders(config), console)


def prepare_folders(folders: Iterable[Path], console: Console) -> None:
    """Open the index of each folder: build it with a progress bar (on a terminal) when the
    folder is new or changed, and say where it lives and what was skipped."""
    for folder in dict.fromkeys(folders):
        index = shared_index(folder)
        with _IndexBar(console, folder) as bar:
            status = index.open(progress=bar.update)
        _report(console, folder, status)


class _IndexBar:
    """A transient bar of files read (and chunks made) while an index is checked or built;
    shown only on a terminal, and only once a file has to be read."""

    def __init__(self, console: Console, folder: Path) -> None:
        self.console = console
        self.folder = escape(str(folder))
        self.progress: Progress | None = None
        self.task: TaskID | None = None

    def __enter__(self) -> _IndexBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def update(self, step: IndexProgress) -> None:
        if not self.console.is_terminal:
            return
        if self.progress is None:
            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("files, {task.fields[chunks]} chunks"),
                console=self.console,
                transient=True,
            )
            self.progress.start()
        verb = "checking" if step.stage == "hashing" else "indexing"
        description = f"{verb} {self.folder}"
        if self.task is None:
            self.task = self.progress.add_task(description, total=step.total, chunks=0)
        self.progress.update(
            self.task,
            description=description,
            completed=step.done,
            total=step.total,
            chunks=step.chunks,
        )


def _report(console: Console, folder: Path, status: IndexStatus) -> None:
    shown = escape(str(folder))
    where = escape(str(status.location))
    counts = f"{status.files} files, {status.chunks} chunks"
    if status.built:
        console.print(
            f"indexed {shown}: {counts} in {status.seconds:.1f} s\n  index: {where}",
            highlight=False,
            soft_wrap=True,
        )
        for skipped in status.skipped[:SKIPPED_SHOWN]:
            console.print(
                f"  [yellow]skipped[/yellow] {escape(skipped.path)}: {escape(skipped.detail)}",
                highlight=False,
                soft_wrap=True,
            )
        more = len(status.skipped) - SKIPPED_SHOWN
        if more > 0:
            console.print(
                f"  [yellow]and {more} more skipped[/yellow] "
                f"(agentlab index build {shown} lists them)",
                highlight=False,
                soft_wrap=True,
            )
        return
    left_out = (
        f"; {len(status.skipped)} skipped (agentlab index build {shown} lists them)"
        if status.skipped
        else ""
    )
    console.print(
        f"[dim]index of {shown} is current: {counts}{left_out}\n  index: {where}[/dim]",
        highlight=False,
        soft_wrap=True,
    )
