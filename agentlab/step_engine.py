"""The step engine: how a wave of tool steps is run, for every architecture.

Each step is prepared (its id, tool, `${id}` references and arguments
checked), the repeated-action rule applied, and the calls made concurrently
(a tool thread each, or the background loop for a coroutine-only tool), each
waited on up to its tool's deadline;
results, failure events and `tool_call` trace events are recorded the same
way whether the steps come from agentlab's plan (the executor node) or one
at a time from a loop (the `react` baseline's tool node).
"""

from __future__ import annotations

import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from langgraph.config import get_stream_writer

from agentlab import execution
from agentlab.errors import UnsafePathError
from agentlab.events import ToolCall
from agentlab.failures import FailureCategory, FailureEvent
from agentlab.joining import candidate_of
from agentlab.plan_checks import (
    REPEATS_REJECTED,
    Finding,
    argument_findings,
    id_finding,
    tool_finding,
)
from agentlab.schemas import Step
from agentlab.state import AgentState, StepResult
from agentlab.tools.arguments import argument_schema
from agentlab.tools.base import output_data, output_text, tool_is_idempotent, tool_timeout

if TYPE_CHECKING:
    from agentlab.nodes.base import AgentDeps


@dataclass
class Wave:
    """What one wave produced."""

    results: dict[str, StepResult] = field(default_factory=dict)
    failures: list[FailureEvent] = field(default_factory=list)
    past_calls: dict[str, StepResult] = field(default_factory=dict)
    tool_calls: int = 0
    shared: list[tuple[str, Prepared]] = field(default_factory=list)
    """Calls answered by a twin in the same wave (candidate plans): (twin's step id, call)."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """A step ready to call: its tool and substituted arguments."""

    step: Step
    args: dict[str, Any]
    key: str


class StepEngine:
    """Runs waves of steps for one agent; failures and trace events name `node`."""

    def __init__(self, deps: AgentDeps, *, node: str) -> None:
        self.deps = deps
        self.node = node

    def refuse(
        self,
        state: AgentState,
        step: Step,
        findings: list[Finding],
        wave: Wave,
        args: dict[str, Any] | None = None,
    ) -> None:
        """Record a step that cannot be called: an error result, one failure event per finding."""
        now = time.time()
        args = args if args is not None else step.args
        wave.results[step.id] = StepResult(
            step_id=step.id,
            tool=step.tool,
            args=args,
            status="error",
            output=execution.format_tool_error(step.tool, "; ".join(f.detail for f in findings)),
            started=now,
            ended=now,
        )
        for finding in findings:
            wave.failures.append(
                self.deps.failure(
                    state,
                    finding.category,
                    finding.detail,
                    node=self.node,
                    step_id=step.id,
                    tool=step.tool,
                    args=args,
                )
            )

    def _prepare(
        self, state: AgentState, step: Step, results: dict[str, StepResult], wave: Wave
    ) -> Prepared | None:
        """Resolve tool and arguments, or record why the step cannot be called."""
        # The id names the step's artifact files: a step with a bad id never runs.
        refusal = id_finding(step) or tool_finding(step, self.deps.tools)
        if refusal is not None:
            self.refuse(state, step, [refusal], wave)
            return None
        try:
            args = execution.substitute(step.args, results)
        except execution.UnresolvedReferenceError as exc:
            detail = f"step {step.id}: ${{{exc.ref}}} has no result to substitute"
            self.refuse(
                state, step, [Finding(FailureCategory.PLANNING_BAD_REFERENCE, detail)], wave
            )
            return None
        tool = self.deps.tools.get(step.tool)
        # A result's text where a JSON-schema tool wants a number (or a list) is read as one.
        args = argument_schema(tool).read_results(args, step.args)
        problems = argument_findings(step, tool, args)
        if problems:
            self.refuse(state, step, problems, wave, args)
            return None
        return Prepared(step, args, execution.call_key(step.tool, args))

    def run(
        self,
        state: AgentState,
        ready: list[Step],
        results: dict[str, StepResult],
        wave: Wave | None = None,
    ) -> Wave:
        """Check and call `ready` as one wave (into `wave`, or a new one); returns the wave.

        `results` are the earlier steps' results, for `${id}` substitution.
        """
        wave = wave if wave is not None else Wave()
        prepared = [p for s in ready if (p := self._prepare(state, s, results, wave))]
        past = dict(state.get("past_calls") or {})
        prior = state.get("prior_calls") or {}
        rejected = set(state.get("rejected") or [])
        to_call: list[Prepared] = []
        for item in prepared:
            tool = self.deps.tools.get(item.step.tool)
            if item.key in rejected:
                detail = REPEATS_REJECTED.format(step=item.step.id, call=item.key)
                finding = Finding(FailureCategory.EFFICIENCY_REPEATED_ACTION, detail)
                self.refuse(state, item.step, [finding], wave, item.args)
                continue
            earlier = prior.get(item.key)
            if earlier is not None and tool_is_idempotent(tool):
                # An earlier plan made this call and it was judged right: reuse it.
                self._reuse(state, item, earlier, wave)
                continue
            twin = next((p for p in to_call if p.key == item.key), None)
            earlier = past.get(item.key)
            if (twin and _other_candidates(twin.step.id, item.step.id)) or (
                earlier is not None and _other_candidates(earlier.step_id, item.step.id)
            ):
                # Candidate plans of one round often make the same call: made once, shared.
                if earlier is not None and earlier.status == "ok" and tool_is_idempotent(tool):
                    self._reuse(state, item, earlier, wave)
                    continue
                if twin is not None and tool_is_idempotent(tool):
                    wave.shared.append((twin.step.id, item))
                    continue
            elif earlier is not None or twin is not None:
                wave.failures.append(
                    self.deps.failure(
                        state,
                        FailureCategory.EFFICIENCY_REPEATED_ACTION,
                        f"step {item.step.id} repeats an earlier call of {item.step.tool} "
                        "with the same arguments",
                        node=self.node,
                        step_id=item.step.id,
                        tool=item.step.tool,
                        args=item.args,
                    )
                )
                if earlier is not None and earlier.status == "ok" and tool_is_idempotent(tool):
                    wave.results[item.step.id] = earlier.model_copy(
                        update={"step_id": item.step.id}
                    )
                    continue
                if twin is not None and tool_is_idempotent(tool):
                    wave.shared.append((twin.step.id, item))
                    continue
            to_call.append(item)
        self._call_concurrently(state, to_call, wave)
        for source, item in wave.shared:
            self._reuse(state, item, wave.results[source], wave)
        return wave

    def _reuse(self, state: AgentState, item: Prepared, earlier: StepResult, wave: Wave) -> None:
        """Record `item` as answered by an identical earlier call (no call is made)."""
        now = time.time()
        result = earlier.model_copy(update={"step_id": item.step.id, "started": now, "ended": now})
        wave.results[item.step.id] = result
        self.deps.tracer.write(
            ToolCall(
                run_id=state["run_id"],
                step_id=item.step.id,
                tool=item.step.tool,
                args=item.args,
                status=result.status,
                output=result.output,
                data=result.data,
                started=now,
                ended=now,
                duration_s=0.0,
                artifacts=result.artifacts,
                reused=True,
            )
        )

    def _call_concurrently(self, state: AgentState, calls: list[Prepared], wave: Wave) -> None:
        if not calls:
            return
        run_id = state["run_id"]
        tracer = self.deps.tracer
        artifacts_dir = tracer.artifacts_dir(run_id)
        config = execution.tool_config(run_id, artifacts_dir)
        writer = get_stream_writer()
        pool = self.deps.tool_pool
        futures: dict[Future[Any], tuple[Prepared, float, float]] = {}
        for item in calls:
            tool = self.deps.tools.get(item.step.tool)
            writer({"event": "step_started", "step_id": item.step.id, "tool": tool.name})
            started = time.time()
            future = execution.start_call(tool, item.args, config, pool)
            futures[future] = (item, started, started + tool_timeout(tool))
        pending = set(futures)
        while pending:
            nearest = min(futures[f][2] for f in pending)
            done, pending = wait(
                pending, timeout=max(0.0, nearest - time.time()), return_when=FIRST_COMPLETED
            )
            for future in done:
                item, started, _deadline = futures[future]
                self._collect(state, item, future, started, artifacts_dir, wave)
            for future in [f for f in pending if futures[f][2] <= time.time()]:
                pending.discard(future)
                item, started, deadline = futures[future]
                future.cancel()
                error = TimeoutError(execution.TIMEOUT_MESSAGE.format(seconds=deadline - started))
                self._record(state, item, started, wave, error=error)
                writer({"event": "step_finished", **wave.results[item.step.id].model_dump()})
            for future in done:
                result = wave.results[futures[future][0].step.id]
                writer({"event": "step_finished", **result.model_dump()})
        wave.tool_calls += len(calls)

    def _collect(
        self,
        state: AgentState,
        item: Prepared,
        future: Future[Any],
        started: float,
        artifacts_dir: Any,
        wave: Wave,
    ) -> None:
        try:
            output = future.result()
        except Exception as exc:
            self._record(state, item, started, wave, error=exc)
            return
        try:
            artifacts = execution.save_artifacts(output, artifacts_dir, item.step.id)
        except (UnsafePathError, OSError) as exc:
            self._record(state, item, started, wave, error=exc)
            return
        self._record(state, item, started, wave, output=output, artifacts=artifacts)

    def _record(
        self,
        state: AgentState,
        item: Prepared,
        started: float,
        wave: Wave,
        *,
        output: Any = None,
        error: BaseException | None = None,
        artifacts: list[str] | None = None,
    ) -> None:
        step = item.step
        ended = time.time()
        if error is None:
            result = StepResult(
                step_id=step.id,
                tool=step.tool,
                args=item.args,
                status="ok",
                output=output_text(output),
                data=output_data(output),
                started=started,
                ended=ended,
                artifacts=artifacts or [],
            )
        else:
            category, message = execution.classify_error(error)
            result = StepResult(
                step_id=step.id,
                tool=step.tool,
                args=item.args,
                status="error",
                output=execution.format_tool_error(step.tool, message),
                started=started,
                ended=ended,
            )
            wave.failures.append(
                self.deps.failure(
                    state,
                    category,
                    message,
                    node=self.node,
                    step_id=step.id,
                    tool=step.tool,
                    args=item.args,
                )
            )
        wave.results[step.id] = result
        wave.past_calls[item.key] = result
        self.deps.tracer.write(
            ToolCall(
                run_id=state["run_id"],
                step_id=step.id,
                tool=step.tool,
                args=item.args,
                status=result.status,
                output=result.output,
                data=result.data,
                started=started,
                ended=ended,
                duration_s=round(ended - started, 6),
                artifacts=result.artifacts,
            )
        )


def _other_candidates(first: str, second: str) -> bool:
    """Whether two step ids belong to different candidate plans of one round (`c1_`, `c2_`)."""
    a, b = candidate_of(first), candidate_of(second)
    return a is not None and b is not None and a[0] != b[0]
