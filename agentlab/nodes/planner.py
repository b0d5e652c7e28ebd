"""planner: asks the model for a `Plan` of typed tool calls."""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.types import Command, Overwrite

from agentlab import code_examples, lifecycle, prompts
from agentlab.budget import replans_exhausted
from agentlab.joining import combine_candidates
from agentlab.nodes.asking import Sampled, ask_structured
from agentlab.nodes.base import AgentDeps, Node, traced_node
from agentlab.plan_schema import plan_model
from agentlab.schemas import ChosenExamples, Plan, Step
from agentlab.state import AgentState, Counters, StepResult
from agentlab.stops import NoAnswer

HISTORY_MESSAGES = 6
NO_PLAN = "no answer: the model's replies never parsed as a plan ({attempts} attempts)"


def conversation_history(state: AgentState) -> list[str]:
    """Earlier turns on this thread (the current task excluded), newest last."""
    earlier = list(state.get("messages") or [])[:-1]
    return [f"{m.type}: {prompts.clip(str(m.content), 300)}" for m in earlier[-HISTORY_MESSAGES:]]


def planner_messages(
    system: str, state: AgentState, *, code_request: str | None = None, repairing: bool = False
) -> list[BaseMessage]:
    """The planner's prompt: the shared system prompt, then the task and what it must take
    into account (`code_request`: the answer must be the code a step writes). A plan that
    `repairing` code sees how the code failed (the findings), not the code: shown its failed
    function, a small model copies it back unchanged, even when sampling."""
    sections = [prompts.PLAN_REQUEST.format(task=state["task"])]
    if code_request:
        sections.append(code_request)
    if memories := state.get("memories"):
        sections.append(prompts.fenced_memories(memories))
    if history := conversation_history(state):
        sections.append(prompts.SECTION_HISTORY.format(items=prompts.bullet_list(history)))
    results = [
        r for r in (state.get("results") or {}).values() if not (repairing and r.tool == "python")
    ]
    if results:
        lines = [prompts.result_line(r) for r in results]
        sections.append(prompts.SECTION_RESULTS.format(items=prompts.bullet_list(lines)))
    if note := state.get("round_note"):
        sections.append(note)
    if findings := state.get("findings"):
        sections.append(prompts.SECTION_FINDINGS.format(items=prompts.bullet_list(findings)))
    return [SystemMessage(content=system), HumanMessage(content="\n\n".join(sections))]


class Planner(Node):
    name = "planner"

    def __init__(self, deps: AgentDeps) -> None:
        super().__init__(deps)
        config = deps.config
        rationale = config.plan_rationale
        if rationale is None:
            rationale = not deps.caller.name.startswith("local:")
        self.schema = plan_model(
            list(deps.tools),
            max_steps=config.budgets.max_plan_steps,
            rationale=rationale,
            # Code is its own plan: an approach sentence before it turned HumanEval plans into
            # a first line of code (`numbers = sorted(numbers)`) instead of the function.
            approach=config.plan_approach and config.deliverable != "code",
            control_flow=config.plan_control_flow,
        )

    def _code_request(self, state: AgentState) -> str | None:
        """What the planner is told when the answer is code. A task that shows examples (and
        a benchmark, whose hidden tests grade the code as it is) gets code only; a user's
        request without examples gets the code followed by asserts it chose, which run with
        the step and are the code's check."""
        if not self.deps.delivers_code(state):
            return None
        if self.deps.config.deliverable == "code" or code_examples.gives_examples(state["task"]):
            return prompts.CODE_REQUEST
        return prompts.CODE_WITH_ASSERTS_REQUEST

    @traced_node
    def __call__(
        self, state: AgentState, config: RunnableConfig
    ) -> Command[Literal["validator", "executor", "finalizer"]]:
        deps = self.deps
        replanning = state.get("plan_version", 0) > 0
        if replanning and (over := replans_exhausted(state, deps.config.budgets)):
            return Command(
                update=lifecycle.stop(deps, state, over, node=self.name), goto="finalizer"
            )
        attempts = state.get("code_attempts") or []
        if attempts and prompts.ADD_ASSERTS in (state.get("findings") or []):
            return self._checked(state, attempts[-1].code, replanning)
        repairing = _repairing_code(state, deps.delivers_code(state))
        messages = planner_messages(
            deps.system_prompt, state, code_request=self._code_request(state), repairing=repairing
        )
        asked = self._ask(state, messages, repairing=repairing)
        update: dict[str, Any] = {
            "failures": asked.failures,
            "counters": asked.counters + Counters(replans=int(replanning)),
        }
        plans = asked.values
        if asked.stop is None and not plans and state.get("code_attempts"):
            # A repair that could not be written (cut off, never parsed): as when the
            # replans run out, the code that passed the most examples answers (the
            # finalizer's fallback), rather than no answer at all.
            return Command(update=update, goto="finalizer")
        if asked.stop is not None or not plans:
            calls = asked.counters.llm_calls
            reason = asked.stop or NoAnswer(detail=NO_PLAN.format(attempts=calls))
            update |= lifecycle.stop(deps, state, reason, node=self.name, failures=asked.failures)
            return Command(update=update, goto="finalizer")
        update |= self._new_round(state, plans)
        return Command(update=update, goto="validator" if deps.config.validator else "executor")

    def _new_round(self, state: AgentState, plans: list[Plan]) -> dict[str, Any]:
        """The state of a new planning round that runs `plans` (several: candidates)."""
        several = len(plans) > 1
        return {
            # Without a validator every candidate runs (with one, the valid ones do).
            "plan": combine_candidates(plans, list(range(1, len(plans) + 1)))
            if several and not self.deps.config.validator
            else plans[0],
            "candidates": plans if several else [],
            "valid_candidates": list(range(1, len(plans) + 1)) if several else [],
            "plan_version": state.get("plan_version", 0) + 1,
            "results": Overwrite({}),
            "prior_calls": _reusable(state),
            "findings": [],
            "round_note": "",
            "answer": None,
        }

    def _checked(
        self, state: AgentState, code: str, replanning: bool
    ) -> Command[Literal["validator", "executor", "finalizer"]]:
        """Code that ran with nothing to check it: the model chooses examples in a schema
        that requires them (`ChosenExamples`), and the plan runs the code with them as
        asserts. Without a usable example, the code answers as it stands."""
        deps = self.deps
        functions = code_examples.defined_functions(code)
        # The joiner sends only code that defines functions here.
        request = prompts.CHOOSE_EXAMPLES.format(task=state["task"], names=", ".join(functions))
        messages = [SystemMessage(content=deps.system_prompt), HumanMessage(content=request)]
        asked = ask_structured(deps, state, messages, ChosenExamples, node=self.name)
        update: dict[str, Any] = {
            "failures": asked.failures,
            "counters": asked.counters + Counters(replans=int(replanning)),
        }
        if asked.stop is not None:
            update |= lifecycle.stop(deps, state, asked.stop, node=self.name)
            return Command(update=update, goto="finalizer")
        chosen = asked.value.examples if asked.value is not None else []
        asserts = code_examples.chosen_asserts(((e.call, e.returns) for e in chosen), functions)
        if not asserts:
            return Command(update=update, goto="finalizer")  # the code answers unchecked
        checked = Step(
            id="s1", tool="python", args={"code": "\n\n".join([code, "\n".join(asserts)])}
        )
        plan = Plan(steps=[checked], answer="${s1.code}")
        update |= self._new_round(state, [plan])
        return Command(update=update, goto="validator" if deps.config.validator else "executor")

    def _ask(
        self, state: AgentState, messages: list[BaseMessage], *, repairing: bool
    ) -> Sampled[Plan]:
        """One plan, or `plans` candidates: the first greedy (sampled when it repairs code),
        the rest sampled (the prompt is the same, so a backend that caches it processes it
        once)."""
        deps = self.deps
        sampled: Sampled[Plan] = Sampled()
        version = state.get("plan_version", 0)
        for index in range(deps.config.plans):
            spent = sampled.counters
            sampling = SAMPLING if index else (REPAIR_SAMPLING if repairing else None)
            asked = ask_structured(
                deps,
                state,
                messages,
                self.schema,
                node=self.name,
                spent=spent,
                sampling=sampling,
                # Each repair round draws afresh: the same seed would redraw the same code.
                seed=index + (version * deps.config.plans if repairing else 0),
            )
            sampled.add(asked)
            if asked.stop is not None:
                break
        return sampled


SAMPLING = 0.8
"""Temperature of candidate plans after the first (which is greedy)."""

REPAIR_SAMPLING = 0.6
"""Temperature of a plan that repairs code (see `_repairing_code`).
Shown the failure, a small model decoding greedily writes the same function again, byte for
byte (HumanEval study, docs/ablation); a sample is a different attempt. 0.6 sits where Chen et
al. (2021, Codex) found the best temperature for a handful of samples (0.2 for one, 0.8
for a hundred)."""


def _repairing_code(state: AgentState, code_task: bool) -> bool:
    """Whether this round re-plans code that failed: its last attempt failed the task's
    examples, or (on a code task) the last plan's python step raised or the validator
    rejected the plan (which greedy decoding would write again, word for word)."""
    attempts = state.get("code_attempts") or []
    if attempts and attempts[-1].failed > 0:
        return True
    if not code_task or not state.get("plan_version"):
        return False
    results = list((state.get("results") or {}).values())
    if any(r.tool == "python" and r.status == "error" for r in results):
        return True
    return bool(state.get("findings")) and not results


def _reusable(state: AgentState) -> dict[str, StepResult]:
    """Calls of earlier plans a new plan may reuse: those that succeeded and were not judged
    wrong."""
    rejected = set(state.get("rejected") or [])
    return {
        key: result
        for key, result in (state.get("past_calls") or {}).items()
        if result.status == "ok" and key not in rejected
    }
