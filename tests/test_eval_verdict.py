"""Ground-truth verdicts: which eval-only failures a run gets, and how they reach the trace."""

from __future__ import annotations

from typing import Any

from agentlab.eval.checks import Grade
from agentlab.eval.suite import CodeTestsCheck, NumericCheck, Task
from agentlab.eval.verdict import GradingSink, Judgement, RunRecord, Verdict, judge
from agentlab.trace import MemoryTraceSink

TASK = Task(id="t", prompt="p", check=NumericCheck(value=42), ref_steps=2)


class NoCode:
    def run(self, program: str, *, timeout_s: float) -> Grade:
        raise AssertionError("a text check must not run code")


def record(*events: dict[str, Any]) -> RunRecord:
    return RunRecord.from_events(
        [{"type": "header", "run_id": "r", "task_id": "t", "variant": "full"}, *events]
    )


def tool(step_id: str, output: str, status: str = "ok") -> dict[str, Any]:
    return {
        "type": "tool_call",
        "step_id": step_id,
        "tool": "calculator",
        "status": status,
        "output": output,
    }


def reflect(decision: str, answer: str = "") -> dict[str, Any]:
    return {
        "type": "node",
        "node": "reflector",
        "reflection": {"decision": decision, "answer": answer},
    }


def footer(status: str = "answered", answer: str | None = "42") -> dict[str, Any]:
    return {"type": "footer", "status": status, "answer": answer, "status_detail": ""}


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
        {"type": "failure", "category": "efficiency.budget_exhausted"},
        footer(status="budget_exhausted", answer=None),
    )
    j = judge(TASK, record(*events), NoCode())
    assert j.verdict.outcome == "fail"
    assert categories(j) == ["goal.no_answer", "reflection.missed_finish"]


def test_no_answer_is_not_recorded_twice() -> None:
    events = (
        {"type": "failure", "category": "goal.no_answer"},
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
        def run(self, program: str, *, timeout_s: float) -> Grade:
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


def feed(sink: GradingSink, *events: dict[str, Any]) -> None:
    for event in events:
        sink.write("r", {"run_id": "r", "time": "t0", **event})


def test_sink_writes_verdict_and_failures_before_the_footer() -> None:
    sink, inner = grading_sink()
    feed(
        sink,
        {"type": "header", "task_id": "t", "variant": "full"},
        tool("s1", "41"),
        reflect("finish", "41"),
        {**footer(answer="41"), "failures": {"execution.tool_error": 1}},
    )
    kinds = [e["type"] for e in inner.events]
    assert kinds == ["header", "tool_call", "node", "verdict", "failure", "failure", "footer"]
    last = inner.events[-1]
    assert last["verdict"]["outcome"] == "fail"
    assert last["failures"] == {
        "execution.tool_error": 1,
        "goal.wrong_answer": 1,
        "reflection.premature_finish": 1,
    }
    assert inner.events[3]["expected"] == "42"
    judgement = sink.judgement("r")
    assert judgement is not None and judgement.verdict.outcome == "fail"


def test_interrupted_runs_get_no_verdict() -> None:
    sink, inner = grading_sink()
    feed(
        sink,
        {"type": "header"},
        {"type": "footer", "status": "error", "status_detail": "interrupted"},
    )
    assert [e["type"] for e in inner.events] == ["header", "footer"]
    assert "verdict" not in inner.events[-1]
    assert sink.judgement("r") is None


def test_a_check_that_cannot_run_is_an_error_verdict() -> None:
    def broken(rec: RunRecord) -> Judgement:
        raise RuntimeError("Docker engine not reachable")

    sink, inner = grading_sink(broken)
    feed(sink, {"type": "header"}, footer())
    assert inner.events[-1]["verdict"]["outcome"] == "error"
    assert "Docker engine not reachable" in inner.events[-1]["verdict"]["detail"]
