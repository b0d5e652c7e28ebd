"""One pair of an evaluation (a task under a variant), and how it runs.

`PairRunner` holds everything a run needs and nothing that cannot be pickled,
so the same object runs a pair in the evaluator's process, in a worker process
or on a Ray node (`agentlab.eval.workers`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.tools import BaseTool

from agentlab import paths
from agentlab.approvals import approve_unflagged
from agentlab.config import AgentConfig, WithoutTool, parse_variant
from agentlab.eval.checks import CodeRunner
from agentlab.eval.declared import declared_tool
from agentlab.eval.served import served_tools
from agentlab.eval.suite import CodeTestsCheck, Task
from agentlab.eval.verdict import GradingSink, Judgement, Outcome, RunRecord, judge
from agentlab.llm.response_cache import ResponseCache
from agentlab.llm.structured import ChatModelLike
from agentlab.runner import Runner
from agentlab.tools.registry import ToolRegistry, builtin_tool, default_tool_names
from agentlab.trace import JsonlTraceSink

REPLAY = "replay:"


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
    """Pairs in flight at once: 1 runs them in this process, more in worker processes
    (or as Ray tasks with `ray`)."""
    limit: int | None = None
    """Run only this many tasks: the first ones, or a seeded sample with `seed`."""
    seed: int | None = None
    base_config: AgentConfig = field(default_factory=AgentConfig)
    cache: ResponseCache | None = None
    """Answer model requests seen before from this exact response cache (`--cache`)."""
    ray: str | None = None
    """Run the pairs as Ray tasks: `auto` (the cluster this machine belongs to), `local`
    (start a cluster of `jobs` CPUs here), or a cluster address."""
    claims: str | None = None
    """A `postgresql://` URL: claim pairs (and record finished ones) in Postgres, so
    evaluators on machines that share no folder share the study; None: claim files in
    `out_dir`."""
    study: str | None = None
    """The study's name in the Postgres claims table (default `SUITE/MODEL`)."""
    claim_lease_s: float = 60.0
    """A claim not renewed for this long is taken over (its evaluator died)."""
    mcp: Path | None = None
    """A `{"mcpServers": {...}}` file: its servers start once in each process that runs
    pairs, and their tools join every pair's inventory."""


def task_tool_names(task: Task) -> list[str]:
    """The tools a task's agent gets: its built-ins (all when unset), then its declared ones."""
    builtins = list(task.tools) if task.tools is not None else default_tool_names()
    return [*builtins, *task.function_names]


def pair_config(
    base: AgentConfig, task: Task, variant: str, served: Sequence[str] = ()
) -> AgentConfig:
    """The config of one pair: the task's inventory (and the `served` MCP tools), then the
    variant's switch.

    A task graded by running code has code for its answer (`deliverable="code"`).
    `no-TOOL` for a task that never had TOOL leaves its inventory as it is.
    """
    tools = [*task_tool_names(task), *served]
    fields: dict[str, Any] = {**base.model_dump(), **task.config, "tools": tuple(tools)}
    if isinstance(task.check, CodeTestsCheck):
        fields["deliverable"] = "code"
    config = AgentConfig.model_validate(fields)
    parsed = parse_variant(variant)
    if isinstance(parsed, WithoutTool) and parsed.tool not in tools:
        return config.model_copy(update={"variant": parsed.name})
    return config.with_variant(parsed)


def pair_tools(task: Task, config: AgentConfig, served: Sequence[BaseTool] = ()) -> ToolRegistry:
    """The tools of one run: fresh built-ins by name (made for the pair's config, e.g. its
    search backend), declared functions as stubs, and the `served` MCP tools."""
    builtins = task.tools if task.tools is not None else tuple(default_tool_names())
    return ToolRegistry(
        [
            *(builtin_tool(n, config) for n in builtins),
            *(declared_tool(f) for f in task.functions),
            *served,
        ]
    )


def replay_dir(model: str | ChatModelLike | None) -> Path | None:
    """The directory of a `replay:DIR` spec (None for any other model)."""
    if isinstance(model, str) and model.startswith(REPLAY):
        path = Path(model.removeprefix(REPLAY))
        if path.is_dir():
            return path
    return None


@dataclass(frozen=True)
class PairRunner:
    """Runs one pair and grades it: the settings, the suite's name and the code runner."""

    suite: str
    settings: EvalSettings
    code_runner: CodeRunner
    replay: Path | None = None
    """The `replay:DIR` directory, when the model is replayed per pair."""

    def cassette(self, pair: Pair) -> Path | None:
        """The pair's cassette under the replay directory (None when not replaying)."""
        if self.replay is None:
            return None
        return cassette_path(self.replay, pair.variant, pair.task.id)

    def run(
        self,
        pair: Pair,
        *,
        out_dir: Path | None = None,
        cassette: Path | None = None,
        record: Path | None = None,
    ) -> PairResult:
        """Run one task under one variant and grade it; the trace goes to `out_dir`
        (the settings' by default), the cassette read and written where given."""
        task, variant = pair.task, pair.variant
        settings = self.settings
        sink = GradingSink(
            JsonlTraceSink(out_dir or settings.out_dir),
            lambda run: self._judge(task, run),
        )
        if record is None and settings.record_dir is not None:
            record = cassette_path(settings.record_dir, variant, task.id)
        replayed = cassette or self.cassette(pair)
        model = f"{REPLAY}{replayed}" if replayed is not None else settings.model
        started = time.perf_counter()
        served = served_tools(settings.mcp) if settings.mcp is not None else []
        config = pair_config(settings.base_config, task, variant, [t.name for t in served])
        with Runner(
            config,
            model=model,
            tools=pair_tools(task, config, served),
            trace_dir=sink,
            record=record,
            response_cache=settings.cache,
            # No person is there: write actions are approved unless the run read flagged text.
            approver=approve_unflagged,
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
        return judge(task, record, self.code_runner, suite=self.suite)
