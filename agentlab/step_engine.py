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

from agentlab import conditions, execution, fan_out
from agentlab.effects import Effect
from agentlab.errors import UnsafePathError
from agentlab.events import EffectMade, ToolCall
from agentlab.failures import FailureCategory, FailureEvent
from agentlab.guardrails.classifier import model_check
from agentlab.guardrails.injection import InjectionHit, screen
from agentlab.guardrails.masking import remask, unmask
from agentlab.joining import candidate_of
from agentlab.plan_checks import (
    REPEATS_REJECTED,
    Finding,
    argument_findings,
    id_finding,
    tool_finding,
)
from agentlab.schemas import Step
from agentlab.state import AgentState, Counters, StepResult
from agentlab.tools.arguments import argument_schema
from agentlab.tools.base import (
    output_data,
    output_text,
    tool_gets_private_values,
    tool_has_side_effects,
    tool_is_idempotent,
    tool_output_is_external,
    tool_timeout,
)
from agentlab.tools.effects import EffectOutput

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
    effects: list[Effect] = field(default_factory=list)
    """What the wave's write actions changed."""
    model_counters: Counters = field(default_factory=Counters)
    """Model calls the wave made (the injection model check)."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """A step ready to call: its tool and substituted arguments (a fan-out's item runs as a
    step of its own, under its item id `s2[0]`)."""

    step: Step
    args: dict[str, Any]
    key: str


CONDITION_PROBLEM = "step {step}: condition {condition!r} {problem}"
FAN_OUT_OVER_BUDGET = (
    "step {step}: for_each has {n} items, over the {limit} calls a plan may make; "
    "fan out over fewer items"
)


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
        owner, index = fan_out.split_item_id(step.id)
        for finding in findings:
            wave.failures.append(
                self.deps.failure(
                    state,
                    finding.category,
                    finding.detail,
                    node=self.node,
                    step_id=owner,
                    tool=step.tool,
                    args=args,
                    item=index,
                )
            )

    def skip(
        self, state: AgentState, step: Step, output: str, wave: Wave, *, not_taken: bool
    ) -> None:
        """Record a step that does not run: a reference failed, or (`not_taken`) its condition
        is false or it needs only steps whose condition was; the latter is traced as a
        skipped `tool_call`, since it is the plan's branch, not a failure."""
        now = time.time()
        result = StepResult(
            step_id=step.id,
            tool=step.tool,
            args=step.args,
            status="skipped",
            output=output,
            started=now,
            ended=now,
            not_taken=not_taken,
        )
        wave.results[step.id] = result
        if not_taken:
            get_stream_writer()({"event": "step_finished", **result.model_dump()})
            self.deps.tracer.write(
                ToolCall(
                    run_id=state["run_id"],
                    step_id=step.id,
                    tool=step.tool,
                    args=step.args,
                    status="skipped",
                    output=output,
                    started=now,
                    ended=now,
                    duration_s=0.0,
                )
            )

    def _admissible(self, state: AgentState, step: Step, wave: Wave) -> bool:
        """Whether the step's id and tool let it run; else its refusal is recorded."""
        # The id names the step's artifact files: a step with a bad id never runs.
        refusal = id_finding(step) or tool_finding(step, self.deps.tools)
        if refusal is not None:
            self.refuse(state, step, [refusal], wave)
            return False
        return True

    def _condition_holds(
        self, state: AgentState, step: Step, results: dict[str, StepResult], wave: Wave
    ) -> bool:
        """Whether a step's `when` holds; a false one records the step as not taken, one that
        cannot be evaluated refuses it (`planning.invalid_arguments`)."""
        try:
            holds = conditions.holds(step.when, results)
        except conditions.ConditionError as exc:
            detail = CONDITION_PROBLEM.format(step=step.id, condition=step.when, problem=exc)
            finding = Finding(FailureCategory.PLANNING_INVALID_ARGUMENTS, detail)
            self.refuse(state, step, [finding], wave)
            return False
        if not holds:
            output = execution.CONDITION_FALSE.format(condition=step.when)
            self.skip(state, step, output, wave, not_taken=True)
        return holds

    def _items(
        self, state: AgentState, step: Step, results: dict[str, StepResult], wave: Wave
    ) -> list[Any] | None:
        """The items a fan-out runs over, or None with the refusal recorded (no list, or
        more items than a plan's step budget: `efficiency.budget_exhausted`)."""
        try:
            if isinstance(step.for_each, list):
                items = list(execution.substitute(step.for_each, results))
            else:
                items = fan_out.source_items(step, results)
        except (fan_out.FanOutError, execution.UnresolvedReferenceError) as exc:
            detail = f"step {step.id}: " + (
                str(exc)
                if isinstance(exc, fan_out.FanOutError)
                else f"for_each: ${{{exc.ref}}} has no result to take items from"
            )
            self.refuse(
                state, step, [Finding(FailureCategory.PLANNING_BAD_REFERENCE, detail)], wave
            )
            return None
        limit = self.deps.config.budgets.max_plan_steps
        if len(items) > limit:
            detail = FAN_OUT_OVER_BUDGET.format(step=step.id, n=len(items), limit=limit)
            finding = Finding(FailureCategory.EFFICIENCY_BUDGET_EXHAUSTED, detail)
            self.refuse(state, step, [finding], wave)
            return None
        return items

    def _expand(
        self, state: AgentState, step: Step, results: dict[str, StepResult], wave: Wave
    ) -> tuple[list[Any], list[Prepared]] | None:
        """A fan-out's items and the calls they make (an item whose arguments are refused is
        recorded as a failed item); None when the step cannot fan out."""
        items = self._items(state, step, results, wave)
        if items is None:
            return None
        calls: list[Prepared] = []
        for index, item in enumerate(items):
            call = fan_out.item_call(step, index)
            prepared = self._prepare(state, call, results, wave, fan_out.bound(item, step.item))
            if prepared is not None:
                calls.append(prepared)
        return items, calls

    def _gather(self, step: Step, items: list[Any], wave: Wave) -> None:
        """Replace a fan-out's item results in the wave by the step's own result."""
        ids = [fan_out.item_id(step.id, i) for i in range(len(items))]
        wave.results[step.id] = fan_out.gathered(step, items, [wave.results.pop(i) for i in ids])

    def _prepare(
        self,
        state: AgentState,
        step: Step,
        results: dict[str, StepResult],
        wave: Wave,
        bindings: dict[str, str] | None = None,
    ) -> Prepared | None:
        """Resolve tool and arguments, or record why the step cannot be called."""
        try:
            args = execution.substitute(step.args, results, bindings)
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
        prepared: list[Prepared] = []
        fan_outs: list[tuple[Step, list[Any]]] = []
        for step in ready:
            if not self._admissible(state, step, wave):
                continue
            if step.when and not self._condition_holds(state, step, results, wave):
                continue
            if step.for_each is None:
                if (single := self._prepare(state, step, results, wave)) is not None:
                    prepared.append(single)
            elif (expanded := self._expand(state, step, results, wave)) is not None:
                fan_outs.append((step, expanded[0]))
                prepared.extend(expanded[1])
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
                        step_id=fan_out.split_item_id(item.step.id)[0],
                        tool=item.step.tool,
                        args=item.args,
                        item=fan_out.split_item_id(item.step.id)[1],
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
        self._model_screen(state, to_call, wave)
        for source, item in wave.shared:
            self._reuse(state, item, wave.results[source], wave)
        for step, items in fan_outs:
            self._gather(step, items, wave)
        return wave

    def _reuse(self, state: AgentState, item: Prepared, earlier: StepResult, wave: Wave) -> None:
        """Record `item` as answered by an identical earlier call (no call is made)."""
        now = time.time()
        result = earlier.model_copy(update={"step_id": item.step.id, "started": now, "ended": now})
        wave.results[item.step.id] = result
        owner, index = fan_out.split_item_id(item.step.id)
        self.deps.tracer.write(
            ToolCall(
                run_id=state["run_id"],
                step_id=owner,
                item=index,
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
        vault = state.get("vault") or {}
        for item in calls:
            tool = self.deps.tools.get(item.step.tool)
            writer({"event": "step_started", "step_id": item.step.id, "tool": tool.name})
            started = time.time()
            # Masked values go back only into the calls of tools that declare they need them.
            args = unmask(item.args, vault) if tool_gets_private_values(tool) else item.args
            future = execution.start_call(tool, args, config, pool)
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

    def _model_screen(self, state: AgentState, calls: list[Prepared], wave: Wave) -> None:
        """Ask the model about each external result the rules passed, once the wave's calls
        are all in (a model call must not hold up the tools' deadlines)."""
        if not self._model_checks():
            return
        for item in calls:
            result = wave.results.get(item.step.id)
            if result is None or not result.external or result.flagged or result.status != "ok":
                continue
            source = f"{result.step_id} {result.tool}"
            hits, spent, failures = model_check(
                self.deps, state, source, result.output, node=self.node, spent=wave.model_counters
            )
            wave.model_counters += spent
            wave.failures.extend(failures)
            if hits:
                wave.failures.append(self._injection_failure(state, result, hits))
                flagged = result.model_copy(
                    update={"flagged": [f"{h.rule}: {h.quote}" for h in hits]}
                )
                wave.results[item.step.id] = flagged
                wave.past_calls[item.key] = flagged

    def _model_checks(self) -> bool:
        config = self.deps.config
        if not config.guardrails:
            return False
        if config.injection_model_check is not None:
            return config.injection_model_check
        # By default only where a flag matters most (an agent that can write) and costs no
        # money (an embedded model): read-only agents keep their calls and timings.
        writes = any(tool_has_side_effects(t) for t in self.deps.tools)
        return writes and self.deps.caller.name.startswith("local:")

    def _injection_failure(
        self, state: AgentState, result: StepResult, hits: list[InjectionHit]
    ) -> FailureEvent:
        quotes = "; ".join(f"{h.rule}: {h.quote!r}" for h in hits)
        return self.deps.failure(
            state,
            FailureCategory.GUARDRAIL_PROMPT_INJECTION,
            f"step {result.step_id}: {result.tool} returned instructions aimed at the "
            f"agent ({quotes}); quoted as untrusted, write actions now need approval",
            node=self.node,
            step_id=result.step_id,
            tool=result.tool,
            args=result.args,
        )

    def _screened(self, state: AgentState, result: StepResult, wave: Wave) -> StepResult:
        """`result` marked as text from outside, and screened for prompt injection, when its
        tool's output comes from outside and guardrails are on; a hit is a failure event."""
        tool = self.deps.tools.get(result.tool)
        if not self.deps.config.guardrails or not tool_output_is_external(tool):
            return result
        # The data may hold more of the text than the output shows (a hit's whole passage).
        hits = screen(f"{result.output}\n{_strings(result.data)}")
        if hits:
            wave.failures.append(self._injection_failure(state, result, hits))
        flagged = [f"{h.rule}: {h.quote}" for h in hits]
        return result.model_copy(update={"external": True, "flagged": flagged})

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
        owner, index = fan_out.split_item_id(step.id)
        ended = time.time()
        vault = state.get("vault") or {}
        if error is None:
            result = self._screened(
                state,
                StepResult(
                    step_id=step.id,
                    tool=step.tool,
                    args=item.args,
                    status="ok",
                    output=remask(output_text(output), vault),
                    data=remask_data(output_data(output), vault),
                    started=started,
                    ended=ended,
                    artifacts=artifacts or [],
                ),
                wave,
            )
            if isinstance(output, EffectOutput):
                effect = output.effect.model_copy(
                    update={
                        "step_id": step.id,
                        "target": remask(output.effect.target, vault),
                        "detail": remask(output.effect.detail, vault),
                    }
                )
                wave.effects.append(effect)
                self.deps.tracer.write(EffectMade(run_id=state["run_id"], effect=effect))
        else:
            category, message = execution.classify_error(error)
            message = remask(message, vault)
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
                    step_id=owner,
                    tool=step.tool,
                    args=item.args,
                    item=index,
                )
            )
        wave.results[step.id] = result
        wave.past_calls[item.key] = result
        self.deps.tracer.write(
            ToolCall(
                run_id=state["run_id"],
                step_id=owner,
                item=index,
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


def _strings(data: Any) -> str:
    """The strings inside JSON-ready data, one per line."""
    if isinstance(data, str):
        return data
    if isinstance(data, dict):
        return "\n".join(_strings(v) for v in data.values())
    if isinstance(data, list):
        return "\n".join(_strings(v) for v in data)
    return ""


def remask_data(data: Any, vault: dict[str, str]) -> Any:
    """A result's JSON-ready data with the vault's values put back as placeholders."""
    if not vault:
        return data
    if isinstance(data, str):
        return remask(data, vault)
    if isinstance(data, dict):
        return {k: remask_data(v, vault) for k, v in data.items()}
    if isinstance(data, list):
        return [remask_data(v, vault) for v in data]
    return data


def _other_candidates(first: str, second: str) -> bool:
    """Whether two step ids belong to different candidate plans of one round (`c1_`, `c2_`)."""
    a, b = candidate_of(first), candidate_of(second)
    return a is not None and b is not None and a[0] != b[0]
