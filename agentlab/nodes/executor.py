"""executor: runs every step whose dependencies are done, concurrently, one wave per graph step.

Which steps are ready (or skipped, or can never run) is decided here; running
them is the step engine's job (`agentlab.step_engine`). Each wave is its own
superstep, so a checkpointer saves the run after every wave and a killed run
resumes without re-running finished steps.
"""

from __future__ import annotations

from typing import Any, Literal, assert_never

from langchain_core.runnables import RunnableConfig
from langgraph.types import Command

from agentlab import execution, fan_out, lifecycle
from agentlab.approvals import ApprovalRequest, AskFirst, RefuseStep, RunStep, gate
from agentlab.budget import budget_exhausted
from agentlab.failures import FailureCategory
from agentlab.nodes.base import AgentDeps, Node, traced_node
from agentlab.plan_checks import Finding
from agentlab.schemas import Plan, Step
from agentlab.state import AgentState, Counters, StepResult
from agentlab.step_engine import StepEngine, Wave
from agentlab.tools.base import tool_has_side_effects, tool_shares_state

Goto = Literal["executor", "approval", "joiner", "finalizer"]


def _warnings(state: AgentState) -> list[str]:
    """The prompt-injection warnings the run has recorded."""
    return [
        f.detail
        for f in state.get("failures") or []
        if f.category == FailureCategory.GUARDRAIL_PROMPT_INJECTION
    ]


def pending_steps(plan: Plan, results: dict[str, StepResult]) -> list[Step]:
    return [s for s in plan.steps if s.id not in results]


class Executor(Node):
    name = "executor"

    def __init__(self, deps: AgentDeps) -> None:
        super().__init__(deps)
        self.engine = StepEngine(deps, node=self.name)

    @traced_node
    def __call__(self, state: AgentState, config: RunnableConfig) -> Command[Goto]:
        plan = state.get("plan") or Plan()
        results = dict(state.get("results") or {})
        wave = Wave()
        triaged = self._in_plan_order(self._triage(state, plan, results, wave))
        ready, awaiting = self._gated(state, triaged, wave)
        if awaiting is not None and not wave.results:
            # A write step needs a person's decision and nothing else can run first.
            return Command(update={"awaiting": awaiting}, goto="approval")
        # A fan-out makes a call per item: each counts against the tool-call budget.
        calls = sum(fan_out.call_count(step, results) for step in ready)
        over = budget_exhausted(state, self.deps.config.budgets, tool_calls=calls)
        if ready and over is not None:
            stopped = lifecycle.stop(self.deps, state, over, node=self.name, failures=wave.failures)
            return Command(update={"results": wave.results, **stopped}, goto="finalizer")
        self.engine.run(state, ready, results, wave)
        results |= wave.results
        update: dict[str, Any] = {
            "results": wave.results,
            "past_calls": wave.past_calls,
            "failures": wave.failures,
            "effects": wave.effects,
            "counters": wave.model_counters + Counters(tool_calls=wave.tool_calls),
        }
        goto = self._route(state, plan, results, update)
        return Command(update=update, goto=goto)

    def _route(
        self,
        state: AgentState,
        plan: Plan,
        results: dict[str, StepResult],
        update: dict[str, Any],
    ) -> Goto:
        # Once every step has run, the joiner decides what the results mean.
        return "executor" if pending_steps(plan, results) else "joiner"

    def _gated(
        self, state: AgentState, ready: list[Step], wave: Wave
    ) -> tuple[list[Step], ApprovalRequest | None]:
        """The ready steps that run in this wave, and the write step to ask about, if any.

        Read-only steps go first: a write step waits while any is ready, so that it is judged
        after their output was screened (and they are never held back by an approval).
        """
        reads = [s for s in ready if not self._writes(s)]
        if reads:
            return reads, None
        version = state.get("plan_version") or 0
        decisions = state.get("approvals") or {}
        flagged = _warnings(state)
        runnable: list[Step] = []
        for step in ready:
            key = f"{version}/{step.id}"
            verdict = gate(
                self.deps.config.approval, key, step.tool, decisions, flagged=bool(flagged)
            )
            if isinstance(verdict, RunStep):
                edited = verdict.args
                runnable.append(
                    step if edited is None else step.model_copy(update={"args": edited})
                )
            elif isinstance(verdict, RefuseStep):
                finding = Finding(FailureCategory.GUARDRAIL_ACTION_REJECTED, verdict.detail)
                self.engine.refuse(state, step, [finding], wave)
            elif isinstance(verdict, AskFirst):
                return [], self._request(state, step, key, flagged)
            else:
                assert_never(verdict)
        return runnable, None

    def _writes(self, step: Step) -> bool:
        tool = self.deps.tool(step.tool)
        return tool is not None and tool_has_side_effects(tool)

    def _request(
        self, state: AgentState, step: Step, key: str, flagged: list[str]
    ) -> ApprovalRequest:
        try:
            args = execution.substitute(step.args, state.get("results") or {})
        except execution.UnresolvedReferenceError:
            args = step.args  # the engine refuses it once approved; show it as planned
        return ApprovalRequest(
            key=key,
            run_id=state["run_id"],
            step_id=step.id,
            tool=step.tool,
            args=args,
            why=step.why,
            flagged=flagged,
        )

    def _triage(
        self, state: AgentState, plan: Plan, results: dict[str, StepResult], wave: Wave
    ) -> list[Step]:
        """Steps whose references are all done; skip those that depend on a failure."""
        pending = pending_steps(plan, results)
        pending_ids = {s.id for s in pending}
        ready: list[Step] = []
        for step in pending:
            refs = step.references()
            blocked = [
                (results[r], i)
                for r, i in step.needs()
                if r in results and not fan_out.is_available(results[r], i)
            ]
            if blocked:
                self._skip(state, step, [r for r, _ in blocked], wave)
            elif all(r in results for r in refs):
                ready.append(step)
            elif not any(r in pending_ids and r != step.id for r in refs):
                detail = f"step {step.id}: refers to a step that is not in the plan: " + ", ".join(
                    f"${{{r}}}" for r in refs if r not in results
                )
                self.engine.refuse(
                    state, step, [Finding(FailureCategory.PLANNING_BAD_REFERENCE, detail)], wave
                )
        if not ready and not wave.results and pending:
            # Only circular references remain: nothing can ever run.
            for step in pending:
                detail = f"step {step.id}: its references form a cycle and can never resolve"
                self.engine.refuse(
                    state, step, [Finding(FailureCategory.PLANNING_BAD_REFERENCE, detail)], wave
                )
        return ready

    def _in_plan_order(self, ready: list[Step]) -> list[Step]:
        """`ready` with one step at most per tool whose calls share state (the Python
        session): the earliest. The others run in later waves, so each sees the state the
        steps before it in the plan left (run side by side, a later `def` could land first)."""
        taken: set[str] = set()
        kept: list[Step] = []
        for step in ready:
            if step.tool in self.deps.tools and tool_shares_state(self.deps.tools.get(step.tool)):
                if step.tool in taken:
                    continue
                taken.add(step.tool)
            kept.append(step)
        return kept

    def _skip(self, state: AgentState, step: Step, blocked: list[StepResult], wave: Wave) -> None:
        """Skip a step whose needed results are missing: not taken when every one of them
        is a branch not taken, else skipped for the failure (already recorded)."""
        not_taken = all(r.not_taken for r in blocked)
        names = ", ".join(_needed(r) for r in blocked)
        template = execution.NOT_TAKEN_MESSAGE if not_taken else execution.SKIPPED_MESSAGE
        self.engine.skip(state, step, template.format(refs=names), wave, not_taken=not_taken)


def _needed(result: StepResult) -> str:
    """A needed step as a skip message names it (a fan-out's failed items counted)."""
    failed = fan_out.failed_items(result)
    if failed:
        return f"{result.step_id} (all its items; {failed} of {len(result.items or [])} failed)"
    return result.step_id
