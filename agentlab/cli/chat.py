"""`agentlab chat`: a multi-turn conversation on a thread, showing plan and steps as they go."""

from __future__ import annotations

import sys
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from agentlab import settings
from agentlab.cli.approval import approver_for
from agentlab.cli.corpus import BackendOption, CorpusOption, prepare_indexes, with_corpus
from agentlab.cli.inputs import cassette_file, folder
from agentlab.cli.render import RunRenderer
from agentlab.cli.session import default_user, open_runner, usage_error
from agentlab.config import AgentConfig
from agentlab.errors import ConfigError
from agentlab.runner import Runner

EXIT_WORDS = frozenset({"/exit", "/quit", "exit", "quit"})


def chat(
    thread: Annotated[
        str | None,
        typer.Option(help="Continue this thread (default: a new one, printed at the start)."),
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="openai:MODEL, local:NAME or replay:PATH.")
    ] = None,
    variant: Annotated[str | None, typer.Option(help="Named variant, e.g. no-reflection.")] = None,
    no_memory: Annotated[
        bool, typer.Option("--no-memory", help="No long-term memory: recall and store nothing.")
    ] = False,
    tool: Annotated[
        list[str] | None, typer.Option(help="Add a custom tool, module:attr (repeatable).")
    ] = None,
    user: Annotated[
        str | None, typer.Option(help="Whose memories (default AGENTLAB_USER or 'default').")
    ] = None,
    record: Annotated[
        Path | None, typer.Option(help="Write every model exchange to this cassette.")
    ] = None,
    corpus: CorpusOption = None,
    backend: BackendOption = None,
    mcp: Annotated[
        Path | None,
        typer.Option(
            help='Attach MCP servers ({"mcpServers": {...}}), started once for the conversation.'
        ),
    ] = None,
) -> None:
    """Talk to the agent turn by turn; the conversation is kept on a thread. /exit or Ctrl-D ends."""
    thread = thread or uuid.uuid4().hex[:12]
    console = Console()
    try:
        chosen = [variant] if variant else []
        config = AgentConfig().with_variants([*chosen, *(["no-memory"] if no_memory else [])])
        config = with_corpus(config, corpus, backend)
        folder(settings.runs_dir(), "AGENTLAB_HOME/runs")
        if record is not None:
            cassette_file(record)
    except ConfigError as exc:
        raise usage_error(str(exc)) from None
    with ExitStack() as stack:
        try:
            runner = open_runner(
                config,
                stack=stack,
                model=model,
                tool_specs=tool or (),
                record=record,
                threads=True,
                mcp=mcp,
            )
            unfinished = runner.unfinished(thread)
            prepare_indexes(config, console)
        except ConfigError as exc:
            raise usage_error(str(exc)) from None
        shown = escape(thread)
        console.print(
            f"[dim]thread {shown} — continue later with: agentlab chat --thread {shown}[/dim]",
            highlight=False,
        )
        # A write action is asked about on a terminal; off one, nobody can answer: rejected.
        runner.approver = approver_for("ask", console, interactive=console.is_terminal, thread=None)
        session = _Session(runner, console, thread, user or default_user())
        if unfinished is not None:
            console.print(
                f"[bold]resuming[/bold] the unfinished run: {escape(unfinished)}", highlight=False
            )
            session.turn(None)
        session.loop()


class _Session:
    def __init__(self, runner: Runner, console: Console, thread: str, user: str) -> None:
        self.runner = runner
        self.console = console
        self.thread = thread
        self.user = user
        self.renderer = RunRenderer(console, progress=console.is_terminal)

    def loop(self) -> None:
        while True:
            self.console.print("[bold cyan]you>[/bold cyan] ", end="")
            line = sys.stdin.readline()
            if not line:
                self.console.print()
                return
            text = line.strip()
            if not text:
                continue
            if text.lower() in EXIT_WORDS:
                return
            self.turn(text)

    def turn(self, task: str | None) -> None:
        result = self.runner.run(
            task,
            thread_id=self.thread,
            user_id=self.user,
            on_event=self.renderer.handle,
            stream_tokens=self.renderer.progress is not None,
        )
        self.renderer.result(result)
