"""Running a suite under ablation variants: every task × variant pair, resumable.

Each pair runs on its own `Runner` and writes one trace into the output
directory, graded as it ends (`GradingSink`). A pair is finished when a trace
for it ends with a verdict; re-running an evaluation skips finished pairs, so
a killed evaluation resumes where it stopped.

Cassettes per run, for reproducible studies:
`record_dir/<variant>/<task>.jsonl` is written with `record_dir`, and
`model="replay:DIR"` with DIR a directory replays `DIR/<variant>/<task>.jsonl`
for each pair (task ids made file-safe by `safe_name`).

Pairs run in this process (`jobs=1`), in `jobs` worker processes, or as Ray
tasks (`agentlab.eval.workers`). Each pair is claimed before it starts
(`agentlab.eval.claims`), so evaluators started at once on one output folder,
or on one Postgres claims table, run every pair exactly once.
"""

from __future__ import annotations

import json
import os
import random
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import replace
from pathlib import Path

from agentlab.config import VARIANTS, WithoutTool, parse_variant
from agentlab.errors import ConfigError
from agentlab.eval.checks import CodeRunner, SandboxCodeRunner
from agentlab.eval.claims import Claim, ClaimStore, FileClaims, Heartbeat, PostgresClaims
from agentlab.eval.pairs import (
    REPLAY,
    EvalSettings,
    Pair,
    PairResult,
    PairRunner,
    cassette_path,
    pair_config,
    pair_tools,
    replay_dir,
    safe_name,
    task_tool_names,
)
from agentlab.eval.served import served_tools, stop_served
from agentlab.eval.suite import Suite, Task
from agentlab.eval.workers import InlineWorkers, ProcessWorkers, RayWorkers, Workers
from agentlab.failures import utc_now
from agentlab.mcp_servers import read_servers
from agentlab.private_files import FILE_MODE, private_dir
from agentlab.tools.registry import builtin_tool_names
from agentlab.trace import read_ends

__all__ = [
    "MANIFEST",
    "REPLAY",
    "EvalSettings",
    "Evaluation",
    "Pair",
    "PairResult",
    "cassette_path",
    "check_variants",
    "finished_pairs",
    "pair_config",
    "pair_tools",
    "safe_name",
    "select_tasks",
]

MANIFEST = "eval.json"


def finished_pairs(out_dir: Path) -> set[tuple[str, str]]:
    """(task id, variant) of every run in `out_dir` that ended with a pass/fail verdict."""
    done: set[tuple[str, str]] = set()
    if not out_dir.is_dir():
        return done
    for path in out_dir.glob("*.jsonl"):
        header, footer = read_ends(path)
        if header is None or footer is None or footer.verdict is None:
            continue
        if footer.verdict.outcome in ("pass", "fail") and header.task_id is not None:
            done.add((header.task_id, header.variant))
    return done


def select_tasks(suite: Suite, *, limit: int | None, seed: int | None) -> list[Task]:
    """The suite's tasks in file order (shuffled by `seed` when given), the first `limit`."""
    tasks = list(suite.tasks)
    if seed is not None:
        random.Random(seed).shuffle(tasks)
    return tasks[:limit] if limit is not None else tasks


def check_variants(
    variants: tuple[str, ...], tasks: list[Task], served: Callable[[], list[str]] = list
) -> None:
    """Refuse unknown variant names (and `no-TOOL` for a tool no task has, nor a `served`
    MCP tool: asked for only then, since it starts the servers) before anything runs."""
    if not variants:
        raise ConfigError("give at least one variant, e.g. --variant full")
    known_tools = set(builtin_tool_names()) | {n for t in tasks for n in task_tool_names(t)}
    if any(isinstance(parse_variant(v), WithoutTool) for v in variants):
        known_tools |= set(served())
    for name in variants:
        parsed = parse_variant(name)
        if isinstance(parsed, WithoutTool) and parsed.tool not in known_tools:
            raise ConfigError(
                f"unknown variant {name!r}; known: {', '.join(VARIANTS)}, or no-TOOL with TOOL "
                f"one of {', '.join(sorted(known_tools))}"
            )
    if len(set(variants)) != len(variants):
        raise ConfigError(f"variants repeat: {', '.join(variants)}")


def default_study(suite: str, model: object) -> str:
    """`SUITE/MODEL`: the study's name in a Postgres claims table when none is given."""
    spec = model if isinstance(model, str) else type(model).__name__ if model else "default"
    if spec.startswith(REPLAY):
        spec = "replay-" + Path(spec.removeprefix(REPLAY)).name
    return f"{suite}/{spec}"


class Evaluation:
    """One suite under several variants, written to one output directory."""

    def __init__(
        self, suite: Suite, settings: EvalSettings, *, code_runner: CodeRunner | None = None
    ) -> None:
        if settings.jobs < 1:
            raise ConfigError("jobs must be at least 1")
        if settings.claim_lease_s <= 0:
            raise ConfigError("the claim lease must be positive")
        if settings.claims is not None and not settings.claims.startswith(
            ("postgresql://", "postgres://")
        ):
            raise ConfigError("claims go to a postgresql:// URL (or to files when not given)")
        if (settings.jobs > 1 or settings.ray) and not (
            settings.model is None or isinstance(settings.model, str)
        ):
            raise ConfigError(
                "a model object runs in one process: give a model spec to run in parallel"
            )
        self.code_runner: CodeRunner = code_runner or SandboxCodeRunner()
        mcp = settings.mcp
        if mcp is not None:
            read_servers(mcp)  # a bad file is refused here, not in every worker
            # Workers and Ray nodes may run in another folder.
            settings = replace(settings, mcp=mcp.resolve())
        self.suite = suite
        self.settings = settings
        self.tasks = select_tasks(suite, limit=settings.limit, seed=settings.seed)
        check_variants(
            settings.variants,
            self.tasks,
            lambda: [t.name for t in served_tools(mcp)] if mcp is not None else [],
        )
        self._replay = replay_dir(settings.model)
        self.runner = PairRunner(suite.name, settings, self.code_runner, self._replay)
        self._claims: ClaimStore | None = None
        if self._replay is not None:
            missing = [p for p in self.pairs() if not self._cassette(p).is_file()]
            if missing:
                raise ConfigError(
                    f"replay directory {self._replay} has no cassette for {len(missing)} pair(s), "
                    f"e.g. {self._cassette(missing[0])}"
                )

    @property
    def claims(self) -> ClaimStore:
        """Where this evaluation claims pairs (opened on first use)."""
        if self._claims is None:
            settings = self.settings
            if settings.claims is not None:
                study = settings.study or default_study(self.suite.name, settings.model)
                self._claims = PostgresClaims(
                    settings.claims, study, lease_s=settings.claim_lease_s
                )
            else:
                self._claims = FileClaims(settings.out_dir, lease_s=settings.claim_lease_s)
        return self._claims

    def pairs(self) -> list[Pair]:
        """Every selected pair, variant by variant (runs of one variant share a prompt prefix)."""
        return [Pair(t, v) for v in self.settings.variants for t in self.tasks]

    def pending(self) -> list[Pair]:
        """The pairs without a finished run in the output directory (or the claims table)."""
        done = finished_pairs(self.settings.out_dir)
        if self.settings.claims is not None:
            done |= self.claims.finished()
        return [p for p in self.pairs() if p.key not in done]

    def run(
        self,
        *,
        on_start: Callable[[Pair], None] | None = None,
        on_result: Callable[[PairResult], None] | None = None,
        on_skip: Callable[[Pair], None] | None = None,
    ) -> list[PairResult]:
        """Run the pending pairs (`jobs` at a time); returns their results in completion order.

        A pair another evaluator holds or finished meanwhile is skipped (`on_skip`)."""
        pending = self.pending()
        self._write_manifest(len(pending))
        results: list[PairResult] = []
        try:
            for result in self._results(pending, on_start, on_skip):
                results.append(result)
                if on_result is not None:
                    on_result(result)
        finally:
            if self._claims is not None:
                self._claims.close()
                self._claims = None
            stop_served()  # the ones this process started (-j 1, or to check variants)
        return results

    def _workers(self) -> tuple[Workers, int]:
        settings = self.settings
        if settings.ray is not None:
            workers = RayWorkers(self.runner, settings.ray, settings.jobs)
            in_flight = settings.jobs if settings.jobs > 1 else workers.cpus()
            return workers, in_flight
        if settings.jobs == 1:
            return InlineWorkers(self.runner), 1
        # One pair queued behind each running one, so a worker that finishes starts its next
        # pair at once instead of waiting for the evaluator to claim and send one.
        return ProcessWorkers(self.runner, settings.jobs), 2 * settings.jobs

    def _results(
        self,
        pending: list[Pair],
        on_start: Callable[[Pair], None] | None,
        on_skip: Callable[[Pair], None] | None,
    ) -> Iterator[PairResult]:
        if not pending:
            return
        store = self.claims
        heartbeat = Heartbeat(store)
        workers, in_flight = self._workers()
        running: dict[Future[PairResult], tuple[Pair, Claim]] = {}
        queue = iter(pending)
        try:
            while True:
                # Claim just before starting, so evaluators sharing the study split it.
                for pair in queue:
                    claim = store.claim(pair.key)
                    if claim is None:
                        if on_skip is not None:
                            on_skip(pair)
                        continue
                    heartbeat.hold(claim)
                    if on_start is not None:
                        on_start(pair)
                    try:
                        future = workers.submit(pair)
                    except BaseException:  # Ctrl-C in a run on this thread: free the pair
                        heartbeat.drop(claim)
                        store.end(claim, done=False, trace=None)
                        raise
                    running[future] = (pair, claim)
                    if len(running) >= in_flight:
                        break
                if not running:
                    return
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    _, claim = running.pop(future)
                    heartbeat.drop(claim)
                    try:
                        result = future.result()
                    except BaseException:
                        store.end(claim, done=False, trace=None)
                        raise
                    store.end(claim, done=result.outcome in ("pass", "fail"), trace=result.trace)
                    yield result
        finally:
            heartbeat.close()
            for future, (_, claim) in running.items():
                future.cancel()
                store.end(claim, done=False, trace=None)
            workers.close()

    def run_pair(self, pair: Pair) -> PairResult:
        """Run one task under one variant here and grade it (no claim: the caller owns it)."""
        return self.runner.run(pair)

    def _cassette(self, pair: Pair) -> Path:
        return cassette_path(self._replay or Path("."), pair.variant, pair.task.id)

    def _write_manifest(self, pending: int) -> None:
        settings = self.settings
        model = settings.model
        manifest = {
            "suite": self.suite.name,
            "tasks": [t.id for t in self.tasks],
            "variants": list(settings.variants),
            "model": model if isinstance(model, str) or model is None else type(model).__name__,
            "record_dir": str(settings.record_dir) if settings.record_dir else None,
            "jobs": settings.jobs,
            "ray": settings.ray,
            "limit": settings.limit,
            "seed": settings.seed,
            "cache": str(settings.cache.path) if settings.cache else None,
            "pending_at_start": pending,
            "started": utc_now(),
        }
        private_dir(settings.out_dir)
        # Written whole and renamed into place: evaluators sharing the folder write it too.
        target = settings.out_dir / MANIFEST
        scratch = target.with_name(f".{MANIFEST}.{uuid.uuid4().hex[:8]}")
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(manifest, indent=2) + "\n")
        os.replace(scratch, target)
