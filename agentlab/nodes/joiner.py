"""joiner: once a plan has run, answers from its template, or sends it on (no model call).

The rules are `agentlab.joining.judge`: a clean run answers from the plan's
template and the run costs one model call; a failed step, an answer that does
not resolve, or results that are not an answer by themselves go to the
reflector (policy `on_failure`), or back to the planner (`never`); a plan
without an answer gathered what the next planning round needs.

Code answers (`deliverable="code"`, or a template naming a step's code) are
tested first: the task's own examples run in the sandbox against the code, and
a failing example goes back to the planner with the failing case (Reflexion's
loop); when the replan budget is spent, the code that passed the most
examples is the answer.

With several candidate plans (`AgentConfig.plans`), the answer most valid
candidates agree on wins; every candidate's answer is recorded.
"""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from langgraph.config import get_stream_writer
from langgraph.types import Command, Overwrite

from agentlab import code_examples, prompts
from agentlab.budget import replans_exhausted
from agentlab.events import CandidateOutcome, Joined
from agentlab.failures import FailureCategory
from agentlab.joining import Decision, Judged, candidate_of, fill_template, judge, majority
from agentlab.nodes.base import AgentDeps, Node, traced_node
from agentlab.schemas import Plan, Step
from agentlab.state import AgentState, CodeAttempt, Counters, StepResult, best_attempt
from agentlab.step_engine import StepEngine

Goto = Literal["finalizer", "reflector", "planner"]
PYTHON = "python"
GOTO: dict[Decision, Goto] = {"answer": "finalizer", "reflect": "reflector", "plan": "planner"}


class Joiner(Node):
    name = "joiner"

    def __init__(self, deps: AgentDeps) -> None:
        super().__init__(deps)
        self.engine = StepEngine(deps, node=self.name)

    @traced_node
    def __call__(self, state: AgentState, config: RunnableConfig) -> Command[Goto]:
        plan = state.get("plan") or Plan()
        results = dict(state.get("results") or {})
        update: dict[str, Any] = {}
        outcomes: list[CandidateOutcome] = []
        if candidates := state.get("candidates"):
            valid = state.get("valid_candidates") or [1]
            plan, results, outcomes = self._choose(candidates, valid, results)
            # The chosen candidate is the round's plan (graders read the last plan made,
            # which the node's step writes from this update).
            version = state.get("plan_version", 1)
            update |= {
                "plan": plan,
                "plan_version": version,
                "results": Overwrite(results),
                "candidates": [],
            }
        policy = self.deps.config.reflection
        judged = judge(plan, results, self.deps.tools, policy)
        code_task = self._code_task(state, plan)
        if code_task and judged.reason == "failed_steps" and policy != "always":
            code = self._code_answer(state, plan, results, judged)
            spent = replans_exhausted(state, self.deps.config.budgets) is not None
            if code is not None and (spent or not self._failures_use(results, code)):
                # The steps that failed never touched the code (`print(answer)` after the
                # function), or no replan is left to fix it: the task's examples decide,
                # not the error (HumanEval/4's last repair was right; its own assert wrong).
                return self._test_code(state, plan, results, code, update, outcomes)
            if spent and (attempts := state.get("code_attempts")):
                judged, detail = _budget_answer(attempts)
                return self._route(state, judged, update, outcomes, detail=detail)
            # Code that fails is fixed by the planner, shown the error (Reflexion's loop).
            judged = Judged("plan", "failed_steps", None, judged.findings)
            return self._route(state, judged, update, outcomes)
        code = self._code_answer(state, plan, results, judged)
        if code is not None:
            return self._test_code(state, plan, results, code, update, outcomes)
        return self._route(state, judged, update, outcomes)

    # -- routing

    def _route(
        self,
        state: AgentState,
        judged: Judged,
        update: dict[str, Any],
        outcomes: list[CandidateOutcome],
        *,
        detail: str = "",
    ) -> Command[Goto]:
        if judged.decision == "answer" and self.deps.config.reflection == "always":
            # The reflector still judges every plan under `always` (only code answers reach
            # here as "answer"); the answer stays the code.
            update["answer"] = judged.answer
            judged = Judged("reflect", "always", judged.answer)
        decision = judged.decision
        exhausted = decision == "plan" and replans_exhausted(state, self.deps.config.budgets)
        if exhausted and self.deps.config.reflection != "never":
            # No plan left to try: one reflection may still read the answer off the results.
            decision = "reflect"
        goto = GOTO[decision]
        if decision == "answer":
            update["answer"] = judged.answer
        elif decision == "plan":
            update["findings"] = list(judged.findings)
            if judged.reason == "no_template":
                update["round_note"] = prompts.CONTINUE_NOTE
        joined = Joined(
            run_id=state.get("run_id") or "unknown",
            decision=decision,
            reason=judged.reason,
            template_answer=judged.answer,
            detail=detail,
            candidates=outcomes,
        )
        self.deps.tracer.write(joined)
        get_stream_writer()(
            {"event": "joined", **joined.model_dump(include={"decision", "reason", "detail"})}
        )
        return Command(update=update, goto=goto)

    # -- code answers

    def _code_task(self, state: AgentState, plan: Plan) -> bool:
        """Whether the answer is code: the task says so, or the template names a step's code."""
        names_code = any(arg == "code" for _, arg in plan.answer_references())
        return self.deps.delivers_code(state) or names_code

    def _code_answer(
        self, state: AgentState, plan: Plan, results: dict[str, StepResult], judged: Judged
    ) -> str | None:
        """The code the plan answers with, when the answer is code (else None)."""
        if not self._code_task(state, plan):
            return None
        names_code = any(arg == "code" for _, arg in plan.answer_references())
        if names_code and judged.answer is not None:
            return judged.answer
        # No usable template: the code of the plan's last python step that ran.
        for step in reversed(plan.steps):
            result = results.get(step.id)
            code = result.args.get("code") if result is not None else None
            if result is not None and result.status == "ok" and isinstance(code, str):
                return code
        return None

    def _failures_use(self, results: dict[str, StepResult], code: str) -> bool:
        """Whether a step that failed ran, or used, the code's functions: only a python step
        that names none of them (and is not the code's own step) is unrelated."""
        functions = code_examples.defined_functions(code)
        for result in results.values():
            if result.status == "ok" or result.not_taken:
                continue
            source = result.args.get("code") if result.tool == PYTHON else None
            if not isinstance(source, str) or source == code or not functions:
                return True
            if code_examples.uses_any(source, functions):
                return True
        return False

    def _test_code(
        self,
        state: AgentState,
        plan: Plan,
        results: dict[str, StepResult],
        code: str,
        update: dict[str, Any],
        outcomes: list[CandidateOutcome],
    ) -> Command[Goto]:
        task = state.get("task", "")
        functions = code_examples.defined_functions(code)
        examples = code_examples.task_examples(task, functions)
        asked = code_examples.task_functions(task)
        missing = not set(asked) & set(functions)
        if missing and (wanted := code_examples.task_examples(task, asked)):
            # Code that defines none of the functions the task's examples call is no answer
            # to it (a repair that wrote `nums = [...]`): a failed attempt, not a clean one.
            attempts = [
                *(state.get("code_attempts") or []),
                CodeAttempt(code=code, passed=0, failed=len(wanted)),
            ]
            update["code_attempts"] = [attempts[-1]]
            finding = prompts.MISSING_FUNCTIONS.format(names=", ".join(asked))
            return self._failed_attempt(
                state, plan, results, code, attempts, update, outcomes, finding, finding
            )
        if not examples or PYTHON not in self.deps.tools:
            # The plan's own asserts ran with its step (a failing one failed the step).
            asserts = code_examples.own_asserts(code)
            update["code_attempts"] = [CodeAttempt(code=code, passed=asserts, failed=0)]
            if asserts:
                judged = Judged("answer", "examples_passed", code)
                detail = f"the task gives no examples; the plan's own {asserts} asserts passed"
                return self._route(state, judged, update, outcomes, detail=detail)
            first_try = not state.get("code_attempts")
            asked_for_code = self.deps.config.deliverable == "auto"  # a user's request
            if first_try and asked_for_code and functions and PYTHON in self.deps.tools:
                # Functions that only ran were checked by nothing: once, they are checked on
                # examples the model chooses (the planner asks; a script has nothing to call).
                judged = Judged("plan", "untested", code, (prompts.ADD_ASSERTS,))
                detail = "the code ran, but nothing checked it"
                return self._route(state, judged, update, outcomes, detail=detail)
            return self._route(state, Judged("answer", "clean", code), update, outcomes)
        step_id = f"examples{state.get('plan_version', 1)}"
        program = code_examples.check_program(examples, f"the task's examples, plan {step_id}")
        check = Step(id=step_id, tool=PYTHON, args={"code": program})
        wave = self.engine.run(state, [check], results)
        result = wave.results[step_id]
        outcome = code_examples.outcome_of(result.output) if result.status == "ok" else None
        passed = outcome.passed if outcome else 0
        failed = outcome.failed if outcome else len(examples)
        attempts = [
            *(state.get("code_attempts") or []),
            CodeAttempt(code=code, passed=passed, failed=failed),
        ]
        update |= {
            "results": wave.results,
            "past_calls": wave.past_calls,
            "failures": wave.failures,
            "counters": Counters(tool_calls=wave.tool_calls),
            "code_attempts": [attempts[-1]],
        }
        if outcome is not None and outcome.ok:
            judged = Judged("answer", "examples_passed", code)
            return self._route(state, judged, update, outcomes, detail=f"{passed} passed")
        report = outcome.report if outcome else result.output
        detail = f"the code fails {failed} of {passed + failed} of the task's examples: " + (
            prompts.clip(report, 300)
        )
        finding = prompts.EXAMPLES_FAILED.format(report=prompts.clip(report, 1200))
        return self._failed_attempt(
            state, plan, results, code, attempts, update, outcomes, detail, finding
        )

    def _failed_attempt(
        self,
        state: AgentState,
        plan: Plan,
        results: dict[str, StepResult],
        code: str,
        attempts: list[CodeAttempt],
        update: dict[str, Any],
        outcomes: list[CandidateOutcome],
        detail: str,
        finding: str,
    ) -> Command[Goto]:
        """Code that fails the task's examples: back to the planner with `finding`, or,
        with the replans spent, the attempt that passed the most examples answers."""
        update["failures"] = [
            *update.get("failures", []),
            self.deps.failure(
                state,
                FailureCategory.PLANNING_WRONG_ARGUMENT_VALUES,
                detail,
                node=self.name,
                step_id=_code_step(plan, results, code),
                tool=PYTHON,
            ),
        ]
        if replans_exhausted(state, self.deps.config.budgets):
            judged, detail = _budget_answer(attempts)
            return self._route(state, judged, update, outcomes, detail=detail)
        judged = Judged("plan", "examples_failed", code, (finding,))
        return self._route(state, judged, update, outcomes, detail=f"{attempts[-1].failed} failed")

    # -- several candidate plans

    def _choose(
        self, candidates: list[Plan], valid: list[int], results: dict[str, StepResult]
    ) -> tuple[Plan, dict[str, StepResult], list[CandidateOutcome]]:
        """The candidate whose answer most valid candidates agree on (else the first that
        ran), with its results under its own step ids; and every candidate's outcome."""
        by_candidate: dict[int, dict[str, StepResult]] = {}
        for step_id, result in results.items():
            if (owner := candidate_of(step_id)) is not None:
                number, own = owner
                by_candidate.setdefault(number, {})[own] = result.model_copy(
                    update={"step_id": own}
                )
        ran = sorted(valid)
        answers = [fill_template(candidates[k - 1], by_candidate.get(k, {})) for k in ran]
        winner_index = majority(answers)
        winner = ran[winner_index] if winner_index is not None else ran[0]
        agree = sum(
            1
            for a in answers
            if a is not None and winner_index is not None and a == answers[winner_index]
        )
        outcomes = []
        for number in range(1, len(candidates) + 1):
            is_valid = number in ran
            answer = answers[ran.index(number)] if is_valid else None
            chosen = number == winner
            if chosen:
                why = (
                    f"its answer is the one {agree} of {len(ran)} candidates gave"
                    if winner_index is not None
                    else "no candidate gave an answer; the first that ran is kept"
                )
            elif not is_valid:
                why = "the validator rejected it"
            elif answer is None:
                why = "it gave no answer"
            else:
                why = "its answer had fewer votes"
            outcomes.append(
                CandidateOutcome(
                    candidate=number, valid=is_valid, answer=answer, chosen=chosen, why=why
                )
            )
        return candidates[winner - 1], by_candidate.get(winner, {}), outcomes


def _budget_answer(attempts: list[CodeAttempt]) -> tuple[Judged, str]:
    """With the replans spent: the code that passed the most examples (the latest of
    equals) answers."""
    best = best_attempt(attempts)
    detail = f"replans spent; the code that passed {best.passed} examples answers"
    return Judged("answer", "budget", best.code), detail


def _code_step(plan: Plan, results: dict[str, StepResult], code: str) -> str | None:
    for step in plan.steps:
        result = results.get(step.id)
        if result is not None and result.args.get("code") == code:
            return step.id
    return None
