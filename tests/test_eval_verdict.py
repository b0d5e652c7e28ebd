"""Ground-truth verdicts: which eval-only failures a run gets, and how they reach the trace."""

from __future__ import annotations

from typing import Any

from agentlab.eval.checks import CodeJob, Grade
from agentlab.eval.suite import CodeTestsCheck, NumericCheck, Task
from agentlab.eval.verdict import GradingSink, Judgement, RunRecord, judge
from agentlab.events import (
    Event,
    Footer,
    Header,
    NodeStep,
    Reflected,
    ToolCall,
    TraceEvent,
    Verdict,
    event_json,
)
from agentlab.failures import FailureCategory, FailureEvent
from agentlab.schemas import Reflection
from agentlab.stops import Answered, Budget, Interrupted, NoAnswer, StopReason
from agentlab.trace import MemoryTraceSink

TASK = Task(id="t", prompt="p", check=NumericCheck(value=42), ref_steps=2)


class NoCode:
    def run(self, job: CodeJob, *, timeout_s: float) -> Grade:
        raise AssertionError("a text check must not run code")


def header(task_id: str | None = "t") -> Header:
    return Header(
        run_id="r",
        task=TASK.prompt,
        task_id=task_id,
        variant="full",
        config={},
        model="m",
        tools=[],
    )


def record(*events: TraceEvent) -> RunRecord:
    return RunRecord.from_events([header(), *events])


def tool(step_id: str, output: str, status: str = "ok") -> ToolCall:
    return ToolCall(
        run_id="r",
        step_id=step_id,
        tool="calculator",
        args={},
        status=status,  # type: ignore[arg-type]
        output=output,
        started=0.0,
        ended=0.0,
        duration_s=0.0,
    )


def reflect(decision: str, answer: str = "") -> Reflected:
    reflection = Reflection(decision=decision, answer=answer)  # type: ignore[arg-type]
    return Reflected(run_id="r", node="reflector", reflection=reflection)


def failure(category: str) -> FailureEvent:
    return FailureEvent(category=FailureCategory(category), detail="", node="x", run_id="r")


STOPS: dict[str, StopReason] = {
    "answered": Answered(),
    "no_answer": NoAnswer(detail="the run ended without an answer"),
    "budget_exhausted": Budget(budget="steps", used=24, limit=24),
}


def footer(
    status: str = "answered", answer: str | None = "42", stop: StopReason | None = None
) -> Footer:
    stop = stop or STOPS.get(status) or NoAnswer(detail=status)
    return Footer(run_id="r", status=status, stop=stop, answer=answer)  # type: ignore[arg-type]


def categories(j: Judgement) -> list[str]:
    return [str(f.category) for f in j.failures]


def test_right_answer_passes_without_failures() -> None:
    j = judge(
        TASK, record(tool("s1", "42"), reflect("finish", "42"), footer()), NoCode(), suite="s"
    )
    assert j.verdict == Verdict(
        outcome="pass", check="numeric", expected="42", suite="s", ref_steps=2
    )
    assert j.failures == []


def test_wrong_finish_is_a_wrong_answer_and_a_premature_finish() -> None:
    j = judge(
        TASK, record(tool("s1", "41"), reflect("finish", "41"), footer(answer="41")), NoCode()
    )
    assert j.verdict.outcome == "fail" and j.verdict.detail == "expected 42, got 41"
    assert categories(j) == ["goal.wrong_answer", "reflection.premature_finish"]
    assert {f.node for f in j.failures} == {"eval"}
    assert {(f.run_id, f.task_id, f.variant) for f in j.failures} == {("r", "t", "full")}


def test_wrong_answer_without_reflection_is_not_premature() -> None:
    j = judge(TASK, record(tool("s1", "41"), footer(answer="41")), NoCode())
    assert categories(j) == ["goal.wrong_answer"]


def test_replanning_with_the_answer_in_hand_is_a_missed_finish() -> None:
    events = (
        tool("s1", "42"),
        reflect("replan"),
        tool("s2", "40"),
        reflect("finish", "40"),
        footer(answer="40"),
    )
    j = judge(TASK, record(*events), NoCode())
    assert categories(j) == [
        "goal.wrong_answer",
        "reflection.premature_finish",
        "reflection.missed_finish",
    ]
    missed = j.failures[-1]
    assert (missed.step_id, missed.tool) == ("s1", "calculator")


def test_a_replan_before_the_answer_arrived_is_not_missed() -> None:
    events = (
        tool("s1", "40"),
        reflect("replan"),
        tool("s2", "42"),
        reflect("finish", "42"),
        footer(),
    )
    assert judge(TASK, record(*events), NoCode()).failures == []


def test_budget_exhausted_with_the_answer_in_hand() -> None:
    events = (
        tool("s1", "42"),
        failure("efficiency.budget_exhausted"),
        footer(status="budget_exhausted", answer=None),
    )
    j = judge(TASK, record(*events), NoCode())
    assert j.verdict.outcome == "fail"
    assert categories(j) == ["goal.no_answer", "reflection.missed_finish"]


def test_no_answer_is_not_recorded_twice() -> None:
    events = (
        failure("goal.no_answer"),
        footer(status="no_answer", answer=None),
    )
    assert categories(judge(TASK, record(*events), NoCode())) == []


def test_failed_steps_never_count_as_the_answer() -> None:
    events = (
        tool("s1", "42", status="error"),
        reflect("replan"),
        footer(status="budget_exhausted", answer=None),
    )
    assert categories(judge(TASK, record(*events), NoCode())) == ["goal.no_answer"]


def test_code_checks_grade_through_the_runner() -> None:
    class Passes:
        def run(self, job: CodeJob, *, timeout_s: float) -> Grade:
            return Grade(True)

    task = Task(id="c", prompt="p", check=CodeTestsCheck(tests="assert f()"))
    j = judge(
        task,
        record(reflect("finish", "def f(): return 1"), footer(answer="def f(): return 1")),
        Passes(),
    )
    assert j.verdict.outcome == "pass" and j.verdict.expected == "tests pass"


def grading_sink(grader: Any = None) -> tuple[GradingSink, MemoryTraceSink]:
    inner = MemoryTraceSink()
    return GradingSink(inner, grader or (lambda rec: judge(TASK, rec, NoCode()))), inner


def feed(sink: GradingSink, *events: Event | FailureEvent) -> None:
    for event in events:
        sink.write("r", event_json(event))


def test_sink_writes_verdict_and_failures_before_the_footer() -> None:
    sink, inner = grading_sink()
    feed(
        sink,
        header(),
        tool("s1", "41"),
        reflect("finish", "41"),
        NodeStep(run_id="r", node="reflector", duration_s=0.1),
        footer(answer="41").model_copy(update={"failures": {"execution.tool_error": 1}}),
    )
    kinds = [e.type for e in inner.events]
    assert kinds == [
        "header",
        "tool_call",
        "reflection",
        "node",
        "verdict",
        "failure",
        "failure",
        "footer",
    ]
    last = inner.events[-1]
    assert isinstance(last, Footer) and last.verdict is not None
    assert last.verdict.outcome == "fail"
    assert last.failures == {
        "execution.tool_error": 1,
        "goal.wrong_answer": 1,
        "reflection.premature_finish": 1,
    }
    graded = inner.events[4]
    assert graded.type == "verdict" and graded.expected == "42"
    judgement = sink.judgement("r")
    assert judgement is not None and judgement.verdict.outcome == "fail"


def test_interrupted_runs_get_no_verdict() -> None:
    sink, inner = grading_sink()
    feed(
        sink,
        header(),
        footer(status="error", answer=None, stop=Interrupted()),
    )
    assert [e.type for e in inner.events] == ["header", "footer"]
    last = inner.events[-1]
    assert isinstance(last, Footer) and last.verdict is None
    assert sink.judgement("r") is None


def test_a_check_that_cannot_run_is_an_error_verdict() -> None:
    def broken(rec: RunRecord) -> Judgement:
        raise RuntimeError("Docker engine not reachable")

    sink, inner = grading_sink(broken)
    feed(sink, header(), footer())
    last = inner.events[-1]
    assert isinstance(last, Footer) and last.verdict is not None
    assert last.verdict.outcome == "error"
    assert "Docker engine not reachable" in last.verdict.detail
