"""Checks: numbers as models write them, each text check, and the code-test program."""

from __future__ import annotations

import pytest

from agentlab.eval.checks import (
    CodeJob,
    Grade,
    code_job,
    code_program,
    extract_code,
    grade_code,
    grade_text,
    numbers_in,
)
from agentlab.eval.suite import CodeTestsCheck, ExactCheck, NumericCheck, OneOfCheck, RegexCheck


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("207", [207]),
        ("The farmer has 1,307 apples.", [1307]),
        ("$64.50 in total", [64.5]),
        ("-5 degrees, then 3.5", [-5, 3.5]),
        ("15/2 hours", [7.5]),
        ("a 12-hour shift of 8 people", [12, 8]),
        ("23, 41, 37 and 19", [23, 41, 37, 19]),
        ("no numbers here", []),
        ("version v2 and x3", []),
    ],
)
def test_numbers_in(text: str, numbers: list[float]) -> None:
    assert numbers_in(text) == numbers


@pytest.mark.parametrize(
    ("answer", "passed"),
    [
        ("207", True),
        ("207.0000001", True),
        ("They have 207 apples left.", True),
        ("208", False),
        ("336 - 129 = 207", True),
        ("207 (from 336)", False),
        ("none", False),
    ],
)
def test_numeric_uses_the_last_number(answer: str, passed: bool) -> None:
    assert grade_text(NumericCheck(value=207), answer).passed is passed


def test_numeric_tolerance() -> None:
    assert grade_text(NumericCheck(value=100, rel_tol=0.01), "100.9").passed
    assert not grade_text(NumericCheck(value=100, rel_tol=0.001), "100.9").passed
    assert grade_text(NumericCheck(value=100), "99").detail == "expected 100, got 99"


def test_exact_one_of_and_regex() -> None:
    assert grade_text(ExactCheck(value="Paris"), "  paris. ").passed
    assert not grade_text(ExactCheck(value="Paris", case_sensitive=True), "paris").passed
    assert grade_text(OneOfCheck(values=("Lyon", "Paris")), "PARIS").passed
    assert not grade_text(OneOfCheck(values=("Lyon",)), "Paris").passed
    assert grade_text(RegexCheck(pattern=r"\bv2\.\d+"), "Released as V2.3").passed
    assert not grade_text(RegexCheck(pattern="x", ignore_case=False), "X").passed


def test_extract_code_takes_the_longest_fence() -> None:
    answer = "Here:\n```python\ndef f():\n    return 1\n```\nand a test\n```\nf()\n```"
    assert extract_code(answer) == "def f():\n    return 1\n"
    assert extract_code("def g(): pass") == "def g(): pass"


def test_program_for_a_full_function_and_for_a_body() -> None:
    check = CodeTestsCheck(
        prelude="def f(x):\n    '''doc'''\n",
        tests="def check(c):\n    assert c(1) == 2",
        entry_point="f",
    )
    full = code_program(check, "```python\ndef f(x):\n    return x + 1\n```")
    assert (
        full.index("def f(x):\n    '''doc'''") < full.index("return x + 1") < full.index("check(f)")
    )
    body = code_program(check, "    return x + 1")
    assert "'''doc'''\n    return x + 1\n" in body
    plain = code_program(CodeTestsCheck(tests="assert g() == 1"), "def g(): return 1")
    assert plain == "def g(): return 1\n\n\nassert g() == 1\n"


def test_the_job_keeps_the_tests_apart_from_the_code() -> None:
    check = CodeTestsCheck(
        prelude='def f(x):\n    """doc"""\n',
        tests="def check(c):\n    assert c(1) == 2",
        entry_point="f",
    )
    job = code_job(check, "    return x + 1")
    assert job.code == 'def f(x):\n    """doc"""\n    return x + 1\n'
    assert job.tests == "def check(c):\n    assert c(1) == 2\n\ncheck(f)\n"
    assert "check(" not in job.code  # the code under test never holds the tests
    assert job.prelude == check.prelude and job.entry_point == "f"


class Recorder:
    """A CodeRunner that records jobs and returns a scripted grade (never runs code)."""

    def __init__(self, grade: Grade) -> None:
        self.grade = grade
        self.jobs: list[tuple[CodeJob, float]] = []

    def run(self, job: CodeJob, *, timeout_s: float) -> Grade:
        self.jobs.append((job, timeout_s))
        return self.grade


def test_grade_code_hands_the_job_to_the_runner() -> None:
    runner = Recorder(Grade(False, "tests failed: AssertionError"))
    check = CodeTestsCheck(tests="assert g() == 1", timeout_s=5)
    assert grade_code(check, "def g(): return 2", runner) == Grade(
        False, "tests failed: AssertionError"
    )
    assert runner.jobs == [(CodeJob(code="def g(): return 2\n", tests="assert g() == 1\n"), 5)]
    assert grade_code(check, "  ", runner) == Grade(False, "the answer holds no code")
    assert len(runner.jobs) == 1


BIG = "1" + "0" * 400
"""A 401-digit number: past a float's range (1.8e308)."""


@pytest.mark.parametrize(
    ("answer", "passed", "detail"),
    [
        (f"{BIG}", False, "expected 207, got 1.00000000000000e+400"),
        (f"first {BIG}, then 207", True, ""),
        (f"207, then {BIG}", False, "expected 207, got 1.00000000000000e+400"),
        (f"{BIG}/{BIG}", False, "expected 207, got 1"),
        (f"207{'0' * 400}/{BIG}", True, ""),
        ("9" * 100_000, False, "expected 207, got 1.00000000000000e+100000"),
    ],
)
def test_numbers_past_float_range_are_graded(answer: str, passed: bool, detail: str) -> None:
    grade = grade_text(NumericCheck(value=207), answer)
    assert (grade.passed, grade.detail) == (passed, detail)


def test_huge_numbers_compare_exactly() -> None:
    [number] = numbers_in(f"-{BIG}")
    assert number == -(10**400)
    big = 1e308
    assert grade_text(NumericCheck(value=big), str(10**308)).passed  # the nearest float
    assert grade_text(NumericCheck(value=12345678901234567890), "12345678901234567890").passed
    assert not grade_text(NumericCheck(value=big), str(10**309)).passed
    assert grade_text(NumericCheck(value=big, rel_tol=0.95), str(10**309)).passed
    assert not grade_text(NumericCheck(value=big, rel_tol=0.85), str(10**309)).passed
