"""`agentlab eval SUITE --variant ...`: run a suite under ablation variants, resumably."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from agentlab import settings
from agentlab.cli.corpus import (
    BackendOption,
    CorpusOption,
    prepare_folders,
    searched_folders,
    with_corpus,
)
from agentlab.cli.inputs import folder
from agentlab.config import AgentConfig
from agentlab.errors import ConfigError
from agentlab.eval.harness import (
    EvalSettings,
    Evaluation,
    Pair,
    PairResult,
    pair_config,
    safe_name,
)
from agentlab.eval.sources import open_suite
from agentlab.llm.response_cache import ResponseCache
from agentlab.llm.spec import default_model_spec
from agentlab.paths import contained

out = Console()
err = Console(stderr=True)


def _usage_error(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    return typer.Exit(2)


def default_out_dir(suite: str, model: str | None) -> Path:
    """`AGENTLAB_HOME/evals/<suite>/<model>`: one resumable directory per suite and model."""
    spec = model or default_model_spec()
    if spec.startswith("replay:"):
        spec = "replay-" + Path(spec.removeprefix("replay:")).name
    return contained(settings.home() / "evals", safe_name(suite), safe_name(spec))


def _summary(results: list[PairResult], variants: tuple[str, ...]) -> Table:
    table = Table(title="this invocation")
    for column in ("variant", "runs", "pass", "fail", "ungraded", "interrupted"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    for variant in variants:
        mine = Counter(r.outcome for r in results if r.variant == variant)
        table.add_row(
            escape(variant),
            str(sum(mine.values())),
            str(mine["pass"]),
            str(mine["fail"]),
            str(mine["error"]),
            str(mine[None]),
        )
    return table


def eval_command(
    suite: Annotated[
        str,
        typer.Argument(
            help="A suite file (.jsonl/.yaml), a shipped suite (math, code, search), "
            "humaneval, or bfcl:simple_python / bfcl:multiple."
        ),
    ],
    variant: Annotated[
        list[str] | None,
        typer.Option(
            "--variant",
            "-v",
            help="Repeat for each variant: full, no-validator, no-reflection, critique, "
            "no-memory, no-TOOL. Default: full.",
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="openai:MODEL, local:NAME, replay:FILE, or replay:DIR (per-run cassettes)."
        ),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Trace directory (default AGENTLAB_HOME/evals/SUITE/MODEL)."),
    ] = None,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="Runs in parallel: 1 in this process, N on N worker processes "
            "(with --ray: in flight on the cluster, default its CPUs).",
        ),
    ] = 1,
    limit: Annotated[int | None, typer.Option(min=1, help="Run only K tasks.")] = None,
    seed: Annotated[
        int | None, typer.Option(help="Shuffle the tasks with this seed before --limit.")
    ] = None,
    record: Annotated[
        Path | None,
        typer.Option(help="Write each run's cassette to DIR/VARIANT/TASK.jsonl (replay:DIR)."),
    ] = None,
    cache: Annotated[
        bool,
        typer.Option(
            "--cache",
            help="Answer model requests seen before from the exact response cache "
            "(AGENTLAB_HOME/cache/model-replies.sqlite), and keep new replies there.",
        ),
    ] = False,
    corpus: CorpusOption = None,
    backend: BackendOption = None,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            help="Run the pairs as tasks on a Ray cluster: auto (the cluster this machine "
            "joined), local (start one here with -j CPUs), or its address HOST:PORT.",
        ),
    ] = None,
    claims: Annotated[
        str | None,
        typer.Option(
            "--claims",
            help="A postgresql:// URL: evaluators on machines that share no folder claim pairs "
            "there, and it records finished pairs (default: claim files in the output folder).",
        ),
    ] = None,
    study: Annotated[
        str | None,
        typer.Option(help="The study's name in the --claims table (default SUITE/MODEL)."),
    ] = None,
    mcp: Annotated[
        Path | None,
        typer.Option(
            "--mcp",
            help='Attach MCP servers ({"mcpServers": {...}}) to every run; they start once in '
            "each process that runs pairs (with --ray, the file must exist on every node).",
        ),
    ] = None,
) -> None:
    """Run every task of SUITE under every variant. Finished pairs are skipped, so an
    interrupted evaluation resumes when run again. Exit 0 when every pair was graded."""
    variants = tuple(variant or ("full",))
    try:
        loaded = open_suite(suite)
        target = folder(
            out_dir or default_out_dir(loaded.name, model), "--out" if out_dir else "output folder"
        )
        if record is not None:
            folder(record, "--record")
        base_config = with_corpus(AgentConfig(), corpus, backend)
        evaluation = Evaluation(
            loaded,
            EvalSettings(
                variants=variants,
                out_dir=target,
                model=model,
                record_dir=record,
                jobs=jobs,
                limit=limit,
                seed=seed,
                cache=ResponseCache() if cache else None,
                base_config=base_config,
                ray=ray,
                claims=claims,
                study=study,
                mcp=mcp,
            ),
        )
        pending = evaluation.pending()
        # Every folder a pending run searches is indexed once, before runs start in parallel.
        prepare_folders(
            (
                folder
                for pair in pending
                for folder in searched_folders(pair_config(base_config, pair.task, pair.variant))
            ),
            out,
        )
    except ConfigError as exc:
        raise _usage_error(str(exc)) from None
    total = len(evaluation.pairs())
    out.print(
        f"{loaded.name}: {len(evaluation.tasks)} tasks × {len(variants)} variants = {total} runs; "
        f"{total - len(pending)} already finished in {target}",
        highlight=False,
        markup=False,
    )
    results: list[PairResult] = []
    elsewhere: list[Pair] = []
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("pass {task.fields[passed]}"),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=out, transient=False) as progress:
            bar = progress.add_task("eval", total=len(pending), passed=0)

            def started(pair: Pair) -> None:
                progress.update(bar, description=escape(f"{pair.variant} · {pair.task.id}"))

            def finished(result: PairResult) -> None:
                results.append(result)
                passed = sum(1 for r in results if r.outcome == "pass")
                progress.update(bar, advance=1, passed=passed)

            def skipped(pair: Pair) -> None:
                elsewhere.append(pair)
                progress.update(bar, advance=1)

            evaluation.run(on_start=started, on_result=finished, on_skip=skipped)
    except KeyboardInterrupt:
        out.print(_summary(results, variants))
        err.print(
            f"interrupted after {len(results)} of {len(pending)} runs; run the same command "
            "again to finish the missing pairs"
        )
        raise typer.Exit(130) from None
    except ConfigError as exc:
        raise _usage_error(str(exc)) from None
    out.print(_summary(results, variants))
    if elsewhere:
        out.print(
            f"{len(elsewhere)} pair(s) were claimed by another evaluator sharing this study",
            highlight=False,
            markup=False,
        )
    out.print(
        f"traces: {target}\nreport: agentlab failures {target}", highlight=False, markup=False
    )
    ungraded = sum(1 for r in results if r.outcome != "pass" and r.outcome != "fail")
    if ungraded:
        err.print(f"{ungraded} run(s) could not be graded (see their verdict detail)")
        raise typer.Exit(1)
