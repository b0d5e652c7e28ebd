"""Grading an answer against a task's check.

Text checks (exact, numeric, regex, one-of) are pure functions. Code checks
run in the Docker sandbox through a `CodeRunner`, never on the host, and never
in one interpreter: the answer's code runs in the sandbox's worker, the check's
tests in the kernel's judge, which calls the code's functions across a process
boundary and alone decides the verdict (see `agentlab.sandbox.judge`). Nothing
the code writes, returns or patches can pass a test it fails.
"""

from __future__ import annotations

import decimal
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from agentlab.eval.suite import (
    CodeTestsCheck,
    ExactCheck,
    NumericCheck,
    OneOfCheck,
    RegexCheck,
)

if TYPE_CHECKING:
    from agentlab.sandbox import GradeResult

TextCheck = ExactCheck | NumericCheck | RegexCheck | OneOfCheck

# A number as people and models write it: 1,307 / -5 / 3.5 / 15/2 (the calculator's fractions).
_NUMBER = re.compile(
    r"(?<![\w.)])(-)?((?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)(?:/(\d+))?(?![\w])", re.ASCII
)
_FENCE = re.compile(r"```[ \t]*(?:python|py)?[ \t]*\n(.*?)```", re.S | re.I)


@dataclass(frozen=True, slots=True)
class Grade:
    """Whether an answer passed, and why not."""

    passed: bool
    detail: str = ""


_EXACT = decimal.Context(prec=decimal.MAX_PREC, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)
"""Decimal arithmetic without rounding, for numbers past a float's range (1.8e308)."""

_QUOTIENT = decimal.Context(prec=60)
"""Fractions (`15/2`) are divided to 60 significant digits, far beyond a float's 17."""


def numbers_in(text: str) -> list[Decimal]:
    """Every number in `text`, in order (thousands separators and fractions understood),
    as a `Decimal`: exact for any number of digits."""
    found: list[Decimal] = []
    for sign, digits, denominator in _NUMBER.findall(text):
        value = Decimal(digits.replace(",", ""))
        if denominator:
            if not denominator.strip("0"):
                continue
            value = _QUOTIENT.divide(value, Decimal(denominator))
        found.append(-value if sign else value)
    return found


def _close(got: Decimal, value: float, *, abs_tol: float, rel_tol: float) -> bool:
    """`math.isclose(got, value, ...)`: on the answer's nearest float, as GSM8K grading does,
    and exactly when the answer is past a float's range (where `float()` would overflow)."""
    nearest = float(got)
    if math.isfinite(nearest):
        return math.isclose(nearest, value, abs_tol=abs_tol, rel_tol=rel_tol)
    with decimal.localcontext(_EXACT):
        expected = Decimal(value)
        if not expected.is_finite():
            return False
        difference = abs(got - expected)
        return difference <= max(Decimal(rel_tol) * max(abs(got), abs(expected)), Decimal(abs_tol))


def _shown(number: Decimal) -> str:
    return f"{number:.15g}"


def normalise(text: str, *, case_sensitive: bool = False) -> str:
    """Whitespace collapsed, surrounding quotes and a trailing period dropped."""
    text = " ".join(text.split()).strip().strip("`\"'").rstrip(".").strip()
    return text if case_sensitive else text.casefold()


def expected_text(check: TextCheck | CodeTestsCheck) -> str:
    """What the check expects, for reports."""
    match check:
        case ExactCheck(value=value):
            return value
        case NumericCheck(value=value):
            return f"{value:g}"
        case RegexCheck(pattern=pattern):
            return f"/{pattern}/"
        case OneOfCheck(values=values):
            return " | ".join(values)
        case CodeTestsCheck():
            return "tests pass"


def grade_text(check: TextCheck, answer: str) -> Grade:
    """Grade an answer against a text check."""
    match check:
        case ExactCheck(value=value, case_sensitive=cs):
            ok = normalise(answer, case_sensitive=cs) == normalise(value, case_sensitive=cs)
            return Grade(ok, "" if ok else f"expected {value!r}")
        case OneOfCheck(values=values, case_sensitive=cs):
            wanted = {normalise(v, case_sensitive=cs) for v in values}
            ok = normalise(answer, case_sensitive=cs) in wanted
            return Grade(ok, "" if ok else f"expected one of {list(values)}")
        case RegexCheck(pattern=pattern, ignore_case=ignore_case):
            ok = re.search(pattern, answer, re.I if ignore_case else 0) is not None
            return Grade(ok, "" if ok else f"no match for /{pattern}/")
        case NumericCheck(value=value, abs_tol=abs_tol, rel_tol=rel_tol):
            found = numbers_in(answer)
            if not found:
                return Grade(False, "the answer holds no number")
            ok = _close(found[-1], value, abs_tol=abs_tol, rel_tol=rel_tol)
            return Grade(ok, "" if ok else f"expected {value:g}, got {_shown(found[-1])}")


def extract_code(answer: str) -> str:
    """The code in an answer: its longest fenced block, else the whole text."""
    blocks = _FENCE.findall(answer)
    return max(blocks, key=len) if blocks else answer


@dataclass(frozen=True, slots=True, kw_only=True)
class CodeJob:
    """A code check's two halves: the code under test, and the tests that judge it."""

    code: str
    """The answer's code, after the check's prelude when it completes it (HumanEval)."""
    tests: str
    """The check's tests, then `check(entry_point)` when the check names one."""
    prelude: str = ""
    """Run before the tests too, so their helpers are the check's own."""
    entry_point: str | None = None


def code_job(check: CodeTestsCheck, answer: str) -> CodeJob:
    """What the sandbox runs for `answer` under `check`."""
    code = extract_code(answer).rstrip() + "\n"
    if check.prelude and code[:1] in (" ", "\t"):
        # A function body completing the prelude's signature (HumanEval style).
        head = check.prelude.rstrip("\n") + "\n" + code
    else:
        head = "\n\n".join(p for p in (check.prelude.rstrip(), code) if p)
    tests = [check.tests.rstrip()]
    if check.entry_point:
        tests.append(f"check({check.entry_point})")
    return CodeJob(
        code=head,
        tests="\n\n".join(tests) + "\n",
        prelude=check.prelude,
        entry_point=check.entry_point,
    )


def code_program(check: CodeTestsCheck, answer: str) -> str:
    """The job as one program (prelude, the answer's code, the tests, the entry call), as
    HumanEval's own harness would run it in one interpreter; for reading, not running."""
    job = code_job(check, answer)
    return job.code + "\n\n" + job.tests


class CodeRunner(Protocol):
    """Runs a code job somewhere isolated; `passed` only on the tests' own verdict."""

    def run(self, job: CodeJob, *, timeout_s: float) -> Grade: ...


class SandboxCodeRunner:
    """Grades each job in a fresh Docker sandbox session (never on the host), with the
    kernel's judge: the tests run apart from the code they test."""

    def run(self, job: CodeJob, *, timeout_s: float) -> Grade:
        from agentlab.sandbox import shared_pool

        with shared_pool(size=1).session() as session:
            result = session.grade(
                job.code,
                job.tests,
                prelude=job.prelude,
                entry_point=job.entry_point,
                timeout=timeout_s,
            )
        return grade_of(result)


def grade_of(result: GradeResult) -> Grade:
    """The eval's grade for a sandbox grade result."""
    from agentlab.sandbox import GradeOutcome

    error = result.error
    if result.outcome is GradeOutcome.PASSED:
        return Grade(True)
    if result.outcome in (GradeOutcome.FAILED, GradeOutcome.CODE_FAILED) and error is not None:
        message = f"{error.type}: {error.message}".rstrip(": ")
        return Grade(False, f"tests failed: {message}"[:500])
    why = f" ({error.message})" if error is not None and error.message else ""
    return Grade(False, f"tests did not finish: {result.outcome.value}{why}"[:500])


def grade_code(check: CodeTestsCheck, answer: str, runner: CodeRunner) -> Grade:
    """Run the answer's code against the tests (raises if the sandbox cannot be reached)."""
    if not extract_code(answer).strip():
        return Grade(False, "the answer holds no code")
    return runner.run(code_job(check, answer), timeout_s=check.timeout_s)
