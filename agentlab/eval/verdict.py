"""The ground-truth verdict of a run, and the failures only ground truth can reveal.

`GradingSink` wraps a run's trace sink. It passes every event through while
keeping what grading needs (steps, reflections, plans); when the footer
arrives it grades the run and writes, in order: a `verdict` event, the failure
events eval detects (`goal.wrong_answer`, `goal.no_answer`,
`reflection.premature_finish`, `reflection.missed_finish`, and BFCL's
argument errors), then the footer with a `verdict` field and the failure
counts updated. The footer stays the trace's last line.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from agentlab.eval.adapters.bfcl import grade_plan
from agentlab.eval.checks import CodeRunner, Grade, expected_text, grade_code, grade_text
from agentlab.eval.suite import BfclCheck, CodeTestsCheck, Task
from agentlab.events import (
    Event,
    Footer,
    Graded,
    Header,
    PlanMade,
    Reflected,
    ToolCall,
    TraceEvent,
    Verdict,
    event_json,
    parse_event,
)
from agentlab.failures import FailureCategory, FailureEvent, utc_now
from agentlab.schemas import Plan
from agentlab.trace import TraceSink, redact

EVAL_NODE = "eval"

Outcome = Literal["pass", "fail", "error"]


@dataclass(frozen=True, slots=True)
class StepOutcome:
    step_id: str
    tool: str
    ok: bool
    output: str


@dataclass(frozen=True, slots=True)
class ReflectionPoint:
    """A reflector decision and how many step results were in hand when it was made."""

    decision: str
    answer: str
    results_in_hand: int


@dataclass
class RunRecord:
    """What grading reads of a run, gathered from its trace events."""

    run_id: str
    task_id: str | None = None
    variant: str | None = None
    steps: list[StepOutcome] = field(default_factory=list)
    reflections: list[ReflectionPoint] = field(default_factory=list)
    plans: list[Plan] = field(default_factory=list)
    """The run's plans in order: a planner's whole plans; a tool loop's actions, gathered
    into one plan; a tool-less answer's calls."""
    categories: list[str] = field(default_factory=list)
    status: str = "error"
    status_detail: str = ""
    answer: str | None = None
    interrupted: bool = False
    _actions: Plan | None = None

    def add(self, event: TraceEvent) -> None:
        """Take what grading needs from one trace event."""
        match event:
            case Header():
                self.task_id, self.variant = event.task_id, event.variant
            case ToolCall():
                self.steps.append(
                    StepOutcome(event.step_id, event.tool, event.status == "ok", event.output)
                )
            case FailureEvent():
                self.categories.append(str(event.category))
            case PlanMade(candidate=int()):
                pass  # one of a round's candidates; the chosen one is made again after
            case PlanMade(source="action"):
                if self._actions is None:
                    self._actions = Plan()
                    self.plans.append(self._actions)
                self._actions.steps.extend(event.plan.steps)
            case PlanMade():
                self.plans.append(event.plan)
            case Reflected(reflection=reflection):
                self.reflections.append(
                    ReflectionPoint(reflection.decision, reflection.answer, len(self.steps))
                )
            case Footer():
                self.status = event.status
                self.status_detail = event.status_detail
                self.answer = event.answer
                self.interrupted = not event.finished
            case _:
                pass

    def calling_plan(self) -> Plan | None:
        """The last plan that made calls: a replan that only writes the answer (no steps)
        stands on the calls before it."""
        with_steps = [plan for plan in self.plans if plan.steps]
        return with_steps[-1] if with_steps else (self.plans[-1] if self.plans else None)

    @classmethod
    def from_events(cls, events: Sequence[TraceEvent]) -> RunRecord:
        record = cls(run_id=events[0].run_id or "unknown" if events else "unknown")
        for event in events:
            record.add(event)
        return record


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    failures: list[FailureEvent]


def _failure(
    record: RunRecord, category: FailureCategory, detail: str, **where: Any
) -> FailureEvent:
    return FailureEvent(
        category=category,
        detail=detail,
        node=EVAL_NODE,
        run_id=record.run_id,
        task_id=record.task_id,
        variant=record.variant,
        **where,
    )


def _missed_finish(task: Task, record: RunRecord) -> FailureEvent | None:
    """The right answer was among the results, yet the agent went on (or ran out of budget)."""
    check = task.check
    if isinstance(check, CodeTestsCheck | BfclCheck):
        return None

    def first_right(upto: int) -> StepOutcome | None:
        return next(
            (s for s in record.steps[:upto] if s.ok and grade_text(check, s.output).passed), None
        )

    for point in record.reflections:
        if point.decision in ("continue", "replan"):
            right = first_right(point.results_in_hand)
            if right is not None:
                detail = f"step {right.step_id} had the answer ({right.output!r}); the reflector chose {point.decision}"
                return _failure(
                    record,
                    FailureCategory.REFLECTION_MISSED_FINISH,
                    detail,
                    step_id=right.step_id,
                    tool=right.tool,
                )
    if record.status != "answered":
        right = first_right(len(record.steps))
        if right is not None:
            detail = f"step {right.step_id} had the answer ({right.output!r}); the run ended {record.status}"
            return _failure(
                record,
                FailureCategory.REFLECTION_MISSED_FINISH,
                detail,
                step_id=right.step_id,
                tool=right.tool,
            )
    return None


def _grade_answer(
    task: Task, record: RunRecord, runner: CodeRunner
) -> tuple[Grade, list[FailureEvent]]:
    """The check's grade and the goal/reflection failures it implies."""
    check = task.check
    failures: list[FailureEvent] = []
    if isinstance(check, BfclCheck):
        calling = record.calling_plan()
        final_plan = calling.model_dump(mode="json") if calling is not None else None
        result, category = grade_plan(check, task.functions, final_plan)
        grade = Grade(
            result.valid, f"{result.error_type}: {result.error}" if not result.valid else ""
        )
        if category is not None:
            failures.append(_failure(record, category, grade.detail))
            if category is not FailureCategory.GOAL_WRONG_ANSWER:
                failures.append(_failure(record, FailureCategory.GOAL_WRONG_ANSWER, grade.detail))
        return grade, failures
    answer = record.answer if record.status == "answered" else None
    if answer is None:
        return Grade(False, f"no answer (run {record.status})"), failures
    if isinstance(check, CodeTestsCheck):
        grade = grade_code(check, answer, runner)
    else:
        grade = grade_text(check, answer)
    if not grade.passed:
        failures.append(_failure(record, FailureCategory.GOAL_WRONG_ANSWER, grade.detail))
        last = record.reflections[-1] if record.reflections else None
        if last is not None and last.decision == "finish":
            failures.append(
                _failure(
                    record,
                    FailureCategory.REFLECTION_PREMATURE_FINISH,
                    f"the reflector finished with {answer!r}: {grade.detail}",
                )
            )
    return grade, failures


def judge(
    task: Task, record: RunRecord, runner: CodeRunner, *, suite: str | None = None
) -> Judgement:
    """Grade a finished run against its task; raises only if the check cannot be run."""
    grade, failures = _grade_answer(task, record, runner)
    has_answer = record.status == "answered" and record.answer is not None
    if not has_answer and FailureCategory.GOAL_NO_ANSWER.value not in record.categories:
        failures.append(
            _failure(
                record,
                FailureCategory.GOAL_NO_ANSWER,
                f"the run ended {record.status}: {record.status_detail}",
            )
        )
    missed = _missed_finish(task, record)
    if missed is not None:
        failures.append(missed)
    expected = (
        "BFCL possible answers" if isinstance(task.check, BfclCheck) else expected_text(task.check)
    )
    verdict = Verdict(
        outcome="pass" if grade.passed else "fail",
        check=task.check.kind,
        expected=expected,
        detail=grade.detail,
        suite=suite,
        ref_steps=task.ref_steps,
    )
    return Judgement(verdict, failures)


Grader = Callable[[RunRecord], Judgement]


class GradingSink:
    """A trace sink that grades each run when its footer arrives (see the module docstring)."""

    def __init__(self, inner: TraceSink, grader: Grader) -> None:
        self.inner = inner
        self.grader = grader
        self._records: dict[str, RunRecord] = {}
        self._judgements: dict[str, Judgement] = {}
        self._lock = threading.Lock()

    def write(self, run_id: str, event: dict[str, Any]) -> None:
        with self._lock:
            record = self._records.setdefault(run_id, RunRecord(run_id=run_id))
        typed = parse_event(event)
        if isinstance(typed, Footer):
            self._finish(record, typed)
            return
        record.add(typed)
        self.inner.write(run_id, event)

    def close(self, run_id: str) -> None:
        self.inner.close(run_id)

    def location(self, run_id: str) -> str | None:
        return self.inner.location(run_id)

    def artifacts_dir(self, run_id: str) -> Path | None:
        artifacts = getattr(self.inner, "artifacts_dir", None)
        return artifacts(run_id) if callable(artifacts) else None

    def judgement(self, run_id: str) -> Judgement | None:
        """The grading of a finished run (None if it was interrupted or never finished)."""
        return self._judgements.get(run_id)

    def _finish(self, record: RunRecord, footer: Footer) -> None:
        record.add(footer)
        run_id = record.run_id
        if record.interrupted:
            self.inner.write(run_id, self._line(footer))
            return
        try:
            judgement = self.grader(record)
        except Exception as exc:  # the check could not run (no sandbox...): not the agent's fault
            verdict = Verdict(
                outcome="error", check="?", expected="?", detail=f"{type(exc).__name__}: {exc}"
            )
            judgement = Judgement(verdict, [])
        self._judgements[run_id] = judgement
        graded = Graded(run_id=run_id, **judgement.verdict.model_dump())
        self.inner.write(run_id, self._line(graded))
        for failure in judgement.failures:
            self.inner.write(run_id, self._line(failure.model_copy(update={"time": utc_now()})))
        counts = Counter(footer.failures)
        counts.update(str(f.category) for f in judgement.failures)
        graded_footer = footer.model_copy(
            update={"time": utc_now(), "failures": dict(counts), "verdict": judgement.verdict}
        )
        self.inner.write(run_id, self._line(graded_footer))

    @staticmethod
    def _line(event: Event | FailureEvent) -> dict[str, Any]:
        line: dict[str, Any] = redact(event_json(event))
        return line
