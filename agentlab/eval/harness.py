"""Running a suite under ablation variants: every task × variant pair, resumable.

Each pair runs on its own `Runner` and writes one trace into the output
directory, graded as it ends (`GradingSink`). A pair is finished when a trace
for it ends with a verdict; re-running an evaluation skips finished pairs, so
a killed evaluation resumes where it stopped.

Cassettes per run, for reproducible studies:
`record_dir/<variant>/<task>.jsonl` is written with `record_dir`, and
`model="replay:DIR"` with DIR a directory replays `DIR/<variant>/<task>.jsonl`
for each pair (task ids made file-safe by `safe_name`).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentlab import paths
from agentlab.config import VARIANTS, AgentConfig, WithoutTool, parse_variant
from agentlab.errors import ConfigError
from agentlab.eval.checks import CodeRunner, SandboxCodeRunner
from agentlab.eval.declared import declared_tool
from agentlab.eval.suite import CodeTestsCheck, Suite, Task
from agentlab.eval.verdict import GradingSink, Judgement, Outcome, RunRecord, judge
from agentlab.failures import utc_now
from agentlab.llm.response_cache import ResponseCache
from agentlab.llm.structured import ChatModelLike
from agentlab.private_files import open_private, private_dir
from agentlab.runner import Runner
from agentlab.tools.registry import ToolRegistry, builtin_tool, builtin_tool_names
from agentlab.trace import JsonlTraceSink, read_ends

REPLAY = "replay:"
MANIFEST = "eval.json"


def safe_name(task_id: str) -> str:
    """A task id as a file name: `HumanEval/0` → `HumanEval_0` (see `agentlab.paths`)."""
    return paths.safe_name(task_id, empty="task")


def cassette_path(root: Path, variant: str, task_id: str) -> Path:
    """Where a pair's cassette lives under a record / replay directory (task and variant
    ids come from suite files and benchmark packages: made file-safe, then checked)."""
    return paths.contained(root, safe_name(variant), f"{safe_name(task_id)}.jsonl")


@dataclass(frozen=True, slots=True)
class Pair:
    task: Task
    variant: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.task.id, self.variant)


@dataclass(frozen=True, slots=True)
class PairResult:
    """How one pair went."""

    task_id: str
    variant: str
    outcome: Outcome | None
    """pass / fail / error (the check could not run); None when the run was interrupted."""
    status: str
    seconds: float
    run_id: str
    trace: str | None


@dataclass(frozen=True, kw_only=True)
class EvalSettings:
    """What to run and where to write it."""

    variants: tuple[str, ...] = ("full",)
    out_dir: Path
    """Traces go here, one per run; finished pairs found here are skipped."""
    model: str | ChatModelLike | None = None
    """A model spec, or `replay:DIR` for per-run cassettes; None picks the default model."""
    record_dir: Path | None = None
    """Write each run's model exchanges to `record_dir/<variant>/<task>.jsonl`."""
    jobs: int = 1
    limit: int | None = None
    """Run only this many tasks: the first ones, or a seeded sample with `seed`."""
    seed: int | None = None
    base_config: AgentConfig = field(default_factory=AgentConfig)
    cache: ResponseCache | None = None
    """Answer model requests seen before from this exact response cache (`--cache`)."""


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


def task_tool_names(task: Task) -> list[str]:
    """The tools a task's agent gets: its built-ins (all when unset), then its declared ones."""
    builtins = list(task.tools) if task.tools is not None else builtin_tool_names()
    return [*builtins, *task.function_names]


def check_variants(variants: tuple[str, ...], tasks: list[Task]) -> None:
    """Refuse unknown variant names (and `no-TOOL` for a tool no task has) before anything runs."""
    if not variants:
        raise ConfigError("give at least one variant, e.g. --variant full")
    known_tools = set(builtin_tool_names()) | {n for t in tasks for n in task_tool_names(t)}
    for name in variants:
        parsed = parse_variant(name)
        if isinstance(parsed, WithoutTool) and parsed.tool not in known_tools:
            raise ConfigError(
                f"unknown variant {name!r}; known: {', '.join(VARIANTS)}, or no-TOOL with TOOL "
                f"one of {', '.join(sorted(known_tools))}"
            )
    if len(set(variants)) != len(variants):
        raise ConfigError(f"variants repeat: {', '.join(variants)}")


def pair_config(base: AgentConfig, task: Task, variant: str) -> AgentConfig:
    """The config of one pair: the task's inventory, then the variant's switch.

    A task graded by running code has code for its answer (`deliverable="code"`).
    `no-TOOL` for a task that never had TOOL leaves its inventory as it is.
    """
    tools = task_tool_names(task)
    fields: dict[str, Any] = {**base.model_dump(), **task.config, "tools": tuple(tools)}
    if isinstance(task.check, CodeTestsCheck):
        fields["deliverable"] = "code"
    config = AgentConfig.model_validate(fields)
    parsed = parse_variant(variant)
    if isinstance(parsed, WithoutTool) and parsed.tool not in tools:
        return config.model_copy(update={"variant": parsed.name})
    return config.with_variant(parsed)


def pair_tools(task: Task, config: AgentConfig) -> ToolRegistry:
    """Fresh tool objects for one run: built-ins by name (made for the pair's config, e.g.
    its search backend), declared functions as stubs."""
    builtins = task.tools if task.tools is not None else tuple(builtin_tool_names())
    return ToolRegistry(
        [*(builtin_tool(n, config) for n in builtins), *(declared_tool(f) for f in task.functions)]
    )


def replay_dir(model: str | ChatModelLike | None) -> Path | None:
    """The directory of a `replay:DIR` spec (None for any other model)."""
    if isinstance(model, str) and model.startswith(REPLAY):
        path = Path(model.removeprefix(REPLAY))
        if path.is_dir():
            return path
    return None


class Evaluation:
    """One suite under several variants, written to one output directory."""

    def __init__(
        self, suite: Suite, settings: EvalSettings, *, code_runner: CodeRunner | None = None
    ) -> None:
        if settings.jobs < 1:
            raise ConfigError("jobs must be at least 1")
        self.suite = suite
        self.settings = settings
        self.code_runner: CodeRunner = code_runner or SandboxCodeRunner()
        self.tasks = select_tasks(suite, limit=settings.limit, seed=settings.seed)
        check_variants(settings.variants, self.tasks)
        self._replay = replay_dir(settings.model)
        if self._replay is not None:
            missing = [p for p in self.pairs() if not self._cassette(p).is_file()]
            if missing:
                raise ConfigError(
                    f"replay directory {self._replay} has no cassette for {len(missing)} pair(s), "
                    f"e.g. {self._cassette(missing[0])}"
                )

    def pairs(self) -> list[Pair]:
        """Every selected pair, variant by variant (runs of one variant share a prompt prefix)."""
        return [Pair(t, v) for v in self.settings.variants for t in self.tasks]

    def pending(self) -> list[Pair]:
        """The pairs without a finished run in the output directory."""
        done = finished_pairs(self.settings.out_dir)
        return [p for p in self.pairs() if p.key not in done]

    def run(
        self,
        *,
        on_start: Callable[[Pair], None] | None = None,
        on_result: Callable[[PairResult], None] | None = None,
    ) -> list[PairResult]:
        """Run the pending pairs (`jobs` at a time); returns their results in completion order."""
        pending = self.pending()
        self._write_manifest(len(pending))
        results: list[PairResult] = []
        for result in self._results(pending, on_start):
            results.append(result)
            if on_result is not None:
                on_result(result)
        return results

    def _results(
        self, pending: list[Pair], on_start: Callable[[Pair], None] | None
    ) -> Iterator[PairResult]:
        def start(pair: Pair) -> PairResult:
            if on_start is not None:
                on_start(pair)
            return self.run_pair(pair)

        if self.settings.jobs == 1:
            # On the calling thread, so Ctrl-C stops the run in flight (its trace says so).
            yield from (start(p) for p in pending)
            return
        pool = ThreadPoolExecutor(self.settings.jobs, thread_name_prefix="agentlab-eval")
        futures: list[Future[PairResult]] = [pool.submit(start, p) for p in pending]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def run_pair(self, pair: Pair) -> PairResult:
        """Run one task under one variant and grade it."""
        task, variant = pair.task, pair.variant
        sink = GradingSink(
            JsonlTraceSink(self.settings.out_dir),
            lambda record: self._judge(task, record),
        )
        record = (
            cassette_path(self.settings.record_dir, variant, task.id)
            if self.settings.record_dir is not None
            else None
        )
        started = time.perf_counter()
        config = pair_config(self.settings.base_config, task, variant)
        with Runner(
            config,
            model=self._model(pair),
            tools=pair_tools(task, config),
            trace_dir=sink,
            record=record,
            response_cache=self.settings.cache,
        ) as runner:
            result = runner.run(task.prompt, task_id=task.id)
        judgement = sink.judgement(result.run_id)
        return PairResult(
            task_id=task.id,
            variant=variant,
            outcome=judgement.verdict.outcome if judgement is not None else None,
            status=result.status,
            seconds=round(time.perf_counter() - started, 3),
            run_id=result.run_id,
            trace=result.trace_path,
        )

    def _judge(self, task: Task, record: RunRecord) -> Judgement:
        return judge(task, record, self.code_runner, suite=self.suite.name)

    def _cassette(self, pair: Pair) -> Path:
        return cassette_path(self._replay or Path("."), pair.variant, pair.task.id)

    def _model(self, pair: Pair) -> str | ChatModelLike | None:
        if self._replay is not None:
            return f"{REPLAY}{self._cassette(pair)}"
        return self.settings.model

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
            "limit": settings.limit,
            "seed": settings.seed,
            "cache": str(settings.cache.path) if settings.cache else None,
            "pending_at_start": pending,
            "started": utc_now(),
        }
        private_dir(settings.out_dir)
        with open_private(settings.out_dir / MANIFEST, "w") as handle:
            handle.write(json.dumps(manifest, indent=2) + "\n")
