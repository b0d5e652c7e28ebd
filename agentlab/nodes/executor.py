"""executor: runs every step whose dependencies are done, concurrently, one wave per graph step.

Each wave is its own superstep, so a checkpointer saves the run after every
wave and a killed run resumes without re-running finished steps.
"""

from __future__ import annotations

import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from langgraph.config import get_stream_writer
from langgraph.types import Command

from agentlab import execution, lifecycle
from agentlab.budget import budget_exhausted
from agentlab.errors import UnsafePathError
from agentlab.events import ToolCall
from agentlab.failures import FailureCategory, FailureEvent
from agentlab.nodes.base import Node, traced_node
from agentlab.plan_checks import Finding, argument_findings, id_finding, tool_finding
from agentlab.schemas import Plan, Step
from agentlab.state import AgentState, Counters, StepResult
from agentlab.tools.base import output_data, output_text, tool_is_idempotent, tool_timeout

Goto = Literal["executor", "reflector", "planner", "finalizer"]


@dataclass
class Wave:
    """What one wave produced."""

    results: dict[str, StepResult] = field(default_factory=dict)
    failures: list[FailureEvent] = field(default_factory=list)
    past_calls: dict[str, StepResult] = field(default_factory=dict)
    tool_calls: int = 0


@dataclass(frozen=True, slots=True)
class Prepared:
    """A step ready to call: its tool and substituted arguments."""

    step: Step
    args: dict[str, Any]
    key: str


def pending_steps(plan: Plan, results: dict[str, StepResult]) -> list[Step]:
    return [s for s in plan.steps if s.id not in results]


class Executor(Node):
    name = "executor"

    @traced_node
    def __call__(self, state: AgentState, config: RunnableConfig) -> Command[Goto]:
        plan = state.get("plan") or Plan()
        results = dict(state.get("results") or {})
        wave = Wave()
        ready = self._triage(state, plan, results, wave)
        over = budget_exhausted(state, self.deps.config.budgets, tool_calls=len(ready) or 0)
        if ready and over is not None:
            stopped = lifecycle.stop(self.deps, state, over, node=self.name, failures=wave.failures)
            return Command(update={"results": wave.results, **stopped}, goto="finalizer")
        self._run_wave(state, ready, results, wave)
        results |= wave.results
        update: dict[str, Any] = {
            "results": wave.results,
            "past_calls": wave.past_calls,
            "failures": wave.failures,
            "counters": Counters(tool_calls=wave.tool_calls),
        }
        goto = self._route(state, plan, results, update)
        return Command(update=update, goto=goto)

    def run_steps(
        self, state: AgentState, steps: list[Step], results: dict[str, StepResult]
    ) -> Wave:
        """Check and call `steps` as one wave: the same argument checks, repeated-action
        rule, timeouts, failure categories and trace events as a plan's steps. The
        `react` baseline's tool node runs its calls through this."""
        wave = Wave()
        self._run_wave(state, steps, results, wave)
        return wave

    def _route(
        self,
        state: AgentState,
        plan: Plan,
        results: dict[str, StepResult],
        update: dict[str, Any],
    ) -> Goto:
        if pending_steps(plan, results):
            return "executor"
        if self.deps.config.reflection:
            return "reflector"
        errors = [r for r in results.values() if r.status == "error"]
        if errors:
            # Without a reflector, tool errors still go back to the planner as findings.
            update["findings"] = [r.output for r in errors]
            return "planner"
        return "finalizer"

    def _triage(
        self, state: AgentState, plan: Plan, results: dict[str, StepResult], wave: Wave
    ) -> list[Step]:
        """Steps whose references are all done; skip those that depend on a failure."""
        pending = pending_steps(plan, results)
        pending_ids = {s.id for s in pending}
        ready: list[Step] = []
        for step in pending:
            refs = step.references()
            failed = [r for r in refs if r in results and results[r].status != "ok"]
            if failed:
                wave.results[step.id] = self._skipped(step, failed)
            elif all(r in results for r in refs):
                ready.append(step)
            elif not any(r in pending_ids and r != step.id for r in refs):
                detail = f"step {step.id}: refers to a step that is not in the plan: " + ", ".join(
                    f"${{{r}}}" for r in refs if r not in results
                )
                self._refuse(state, step, [Finding(FailureCategory.PLANNING_BAD_REFERENCE, detail)], wave)
        if not ready and not wave.results and pending:
            # Only circular references remain: nothing can ever run.
            for step in pending:
                detail = f"step {step.id}: its references form a cycle and can never resolve"
                self._refuse(state, step, [Finding(FailureCategory.PLANNING_BAD_REFERENCE, detail)], wave)
        return ready

    def _skipped(self, step: Step, failed: list[str]) -> StepResult:
        now = time.time()
        return StepResult(
            step_id=step.id,
            tool=step.tool,
            args=step.args,
            status="skipped",
            output=execution.SKIPPED_MESSAGE.format(refs=", ".join(failed)),
            started=now,
            ended=now,
        )

    def _refuse(
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
                    node=self.name,
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
            self._refuse(state, step, [refusal], wave)
            return None
        try:
            args = execution.substitute(step.args, results)
        except execution.UnresolvedReferenceError as exc:
            detail = f"step {step.id}: ${{{exc.ref}}} has no result to substitute"
            self._refuse(state, step, [Finding(FailureCategory.PLANNING_BAD_REFERENCE, detail)], wave)
            return None
        problems = argument_findings(step, self.deps.tools.get(step.tool), args)
        if problems:
            self._refuse(state, step, problems, wave, args)
            return None
        return Prepared(step, args, execution.call_key(step.tool, args))

    def _run_wave(
        self,
        state: AgentState,
        ready: list[Step],
        results: dict[str, StepResult],
        wave: Wave,
    ) -> None:
        prepared = [p for s in ready if (p := self._prepare(state, s, results, wave))]
        past = dict(state.get("past_calls") or {})
        to_call: list[Prepared] = []
        for item in prepared:
            earlier = past.get(item.key)
            if earlier is not None or any(p.key == item.key for p in to_call):
                wave.failures.append(
                    self.deps.failure(
                        state,
                        FailureCategory.EFFICIENCY_REPEATED_ACTION,
                        f"step {item.step.id} repeats an earlier call of {item.step.tool} "
                        "with the same arguments",
                        node=self.name,
                        step_id=item.step.id,
                        tool=item.step.tool,
                        args=item.args,
                    )
                )
                tool = self.deps.tools.get(item.step.tool)
                if earlier is not None and earlier.status == "ok" and tool_is_idempotent(tool):
                    wave.results[item.step.id] = earlier.model_copy(
                        update={"step_id": item.step.id}
                    )
                    continue
            to_call.append(item)
        self._call_concurrently(state, to_call, wave)

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
            future = pool.submit(execution.invoke_tool, tool, item.args, config)
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
                    node=self.name,
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
