"""`agentlab run TASK`: run an agent and watch it plan, execute and reflect."""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from agentlab import settings
from agentlab.agents import load_agent
from agentlab.cli.approval import RESUME_HELP, approver_for, read_resume
from agentlab.cli.corpus import BackendOption, CorpusOption, prepare_indexes, with_corpus
from agentlab.cli.inputs import cassette_file, folder, task_text
from agentlab.cli.render import RunRenderer
from agentlab.cli.session import default_user, open_runner, usage_error
from agentlab.config import AgentConfig
from agentlab.errors import ConfigError

_usage_error = usage_error


def run(
    task: Annotated[
        str | None,
        typer.Argument(
            help="What the agent should do (omit with --thread to resume a killed run)."
        ),
    ] = None,
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
        bool, typer.Option("--no-validator", help="Skip plan validation (variant no-validator).")
    ] = False,
    no_reflection: Annotated[
        bool,
        typer.Option(
            "--no-reflection", help="Answer with the last step's result (variant no-reflection)."
        ),
    ] = False,
    variant: Annotated[
        str | None,
        typer.Option(
            help="Named variant: full, no-validator, no-reflection, react, direct, no-TOOL..."
        ),
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
    thread: Annotated[
        str | None,
        typer.Option(
            help="Continue this conversation thread, or resume its run that was killed "
            "(checkpointed in AGENTLAB_HOME/threads.sqlite, or AGENTLAB_DB)."
        ),
    ] = None,
    no_memory: Annotated[
        bool,
        typer.Option(
            "--no-memory", help="No long-term memory: recall nothing, store nothing (no-memory)."
        ),
    ] = False,
    tool: Annotated[
        list[str] | None,
        typer.Option(
            help="Add a custom tool, module:attr (repeatable; also AGENTLAB_TOOLS=a:b,c:d)."
        ),
    ] = None,
    agent: Annotated[
        str | None,
        typer.Option(
            help="Example agent to run by name: math, coder, researcher, units; a baseline: react, "
            "direct (see `agentlab agents`); or your own agent.yaml, given as a path "
            "(./my-agent/agent.yaml)."
        ),
    ] = None,
    user: Annotated[
        str | None,
        typer.Option(help="Whose long-term memories to use (default AGENTLAB_USER or 'default')."),
    ] = None,
    corpus: CorpusOption = None,
    backend: BackendOption = None,
    approve: Annotated[
        str,
        typer.Option(
            help="Write actions (files, outbox): ask (on a terminal; off one, a --thread run "
            "waits for --resume, any other is rejected), all (approve every one), none "
            "(reject every one)."
        ),
    ] = "ask",
    resume: Annotated[
        str | None,
        typer.Option(help="Answer the write step a --thread run waits on: " + RESUME_HELP + "."),
    ] = None,
    mcp: Annotated[
        Path | None,
        typer.Option(
            help='Attach MCP servers: a JSON file {"mcpServers": {...}} as other MCP clients '
            "read it (started for the run, stopped at its end)."
        ),
    ] = None,
) -> None:
    """Run TASK. Exit code 0 when answered, 1 when not, 2 on a usage error, 3 when the run
    waits for approval of a write action (resume it with --thread ID --resume ...)."""
    try:
        task_text(task)
        spec = load_agent(agent) if agent else None
        config = spec.agent_config() if spec else AgentConfig()
        # The switch flags are variants by another name, parsed like --variant.
        flags = {
            "no-validator": no_validator,
            "no-reflection": no_reflection,
            "no-memory": no_memory,
        }
        chosen = [variant] if variant else []
        config = config.with_variants([*chosen, *(name for name, on in flags.items() if on)])
        if tools:
            config = config.model_copy(
                update={"tools": tuple(t.strip() for t in tools.split(",") if t.strip())}
            )
        config = with_corpus(config, corpus, backend)
        folder(
            trace_dir or settings.runs_dir(), "--trace-dir" if trace_dir else "AGENTLAB_HOME/runs"
        )
        if record is not None:
            cassette_file(record)
        if approve not in ("ask", "all", "none"):
            raise ConfigError(f"--approve takes ask, all or none, not {approve!r}")
        decision = read_resume(resume) if resume is not None else None
        if decision is not None and thread is None:
            raise ConfigError("--resume answers a run waiting on a thread: give --thread ID")
    except ConfigError as exc:
        raise _usage_error(str(exc)) from None
    with ExitStack() as stack:
        try:
            runner = open_runner(
                config,
                stack=stack,
                model=model,
                tool_specs=tool or (),
                trace_dir=trace_dir,
                record=record,
                threads=thread is not None,
                agent=spec.name if spec else "agentlab",
                mcp=mcp or (spec.mcp_file() if spec else None),
            )
            unfinished = runner.unfinished(thread) if thread is not None else None
            # --json prints one result on stdout: what the index did goes to stderr.
            prepare_indexes(config, Console(stderr=True) if as_json else Console())
        except ConfigError as exc:
            raise _usage_error(str(exc)) from None
        if decision is not None and (task is not None or unfinished is None):
            raise _usage_error(
                f"thread {thread!r} has no run waiting for approval: --resume needs no TASK and "
                "a waiting run"
            )
        if task is None and unfinished is None:
            raise _usage_error(
                f"thread {thread!r} has no unfinished run to resume: give a TASK"
                if thread is not None
                else "give a TASK, or --thread ID to resume a run that was killed"
            )
        console = Console()
        # Live token progress only on a terminal: --json and pipes get what they always got.
        live = console.is_terminal and not as_json
        renderer = RunRenderer(console, progress=live)
        runner.approver = approver_for(
            approve,  # type: ignore[arg-type]
            console,
            interactive=console.is_terminal and not as_json,
            thread=thread,
        )
        if unfinished is not None and not as_json:
            if task is None or task == unfinished:
                console.print(
                    f"[bold]resuming[/bold] the unfinished run: {escape(unfinished)}",
                    highlight=False,
                )
            else:
                console.print(
                    f"[dim]thread {escape(str(thread))} had an unfinished run "
                    f"({escape(unfinished)}); starting the new task instead[/dim]",
                    highlight=False,
                )
        result = runner.run(
            task,
            thread_id=thread,
            user_id=user or default_user(),
            on_event=None if as_json else renderer.handle,
            stream_tokens=live,
            decision=decision,
        )
    if as_json:
        typer.echo(json.dumps(result.to_json(), ensure_ascii=False))
    else:
        renderer.result(result)
    raise typer.Exit(result.exit_code)
