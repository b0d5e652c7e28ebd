"""The calculator under a grammar fuzzer: every call returns or refuses in time, and an
exact answer is the exact rational.

Each expression is evaluated in a child process with a deadline: big-integer
arithmetic holds the GIL, so a thread could not time out a call that hangs
(`1e100000000` once did), and the child can be killed. Alongside each
expression the strategy builds its exact value with `fractions.Fraction`
where that is safe to compute, independently of the calculator's code.
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import agentlab, finish, of_type, only_trace, plan, step, write_cassette

from agentlab.events import ToolCall

DEADLINE_S = 2.0
"""Per call; the tool's timeout is 5 s, and a sound call takes milliseconds."""

_WORKER = """
import json, sys, traceback
from agentlab.tools.calculator import CalculatorError, calculate
for line in sys.stdin:
    try:
        result = calculate(json.loads(line))
        reply = {"kind": "ok", "value": result.value, "exact": result.exact}
    except CalculatorError as refused:
        reply = {"kind": "refused", "message": refused.message}
    except BaseException:
        reply = {"kind": "crash", "traceback": traceback.format_exc()}
    print(json.dumps(reply), flush=True)
"""


class CalculatorProcess:
    """`calculate` in a child process, answering one JSON line per expression."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[str] | None = None

    def _start(self) -> subprocess.Popen[str]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _WORKER],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            self._ask(self._proc, "1+1", deadline_s=60)  # the imports, outside any deadline
        return self._proc

    def calculate(self, expression: str, deadline_s: float = DEADLINE_S) -> dict[str, Any]:
        """The worker's reply; fails the test when none comes within `deadline_s`."""
        return self._ask(self._start(), expression, deadline_s)

    def _ask(
        self, proc: subprocess.Popen[str], expression: str, deadline_s: float
    ) -> dict[str, Any]:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps(expression) + "\n")
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], deadline_s)
        if not ready:
            self.close()
            pytest.fail(f"calculate({expression[:200]!r}) ran past {deadline_s} s")
        reply: dict[str, Any] = json.loads(proc.stdout.readline())
        return reply

    def close(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None


@pytest.fixture(scope="module")
def calculator() -> Iterator[CalculatorProcess]:
    process = CalculatorProcess()
    yield process
    process.close()


UNDEFINED = "undefined"


@dataclass(frozen=True)
class Expr:
    """An expression's text and, where it could be computed safely, its exact value
    (None: unknown; UNDEFINED: a division by zero, which must be refused)."""

    text: str
    value: Fraction | str | None


def _bounded(value: Fraction) -> Fraction | None:
    """None for values too large to keep computing with in the test."""
    too_big = max(value.numerator.bit_length(), value.denominator.bit_length()) > 40_000
    return None if too_big else value


def _combine(op: str, a: Expr, b: Expr) -> Expr:
    text = f"({a.text}){op}({b.text})"
    if UNDEFINED in (a.value, b.value):
        return Expr(text, UNDEFINED)
    x, y = a.value, b.value
    if not isinstance(x, Fraction) or not isinstance(y, Fraction):
        return Expr(text, None)
    if op in ("/", "//", "%") and y == 0:
        return Expr(text, UNDEFINED)
    if op in ("**", "^"):
        if y.denominator != 1 or abs(y.numerator) > 20_000:
            return Expr(text, None)
        if x == 0:
            return Expr(text, UNDEFINED if y < 0 else Fraction(int(y == 0)))
        bits = max(x.numerator.bit_length(), x.denominator.bit_length()) * abs(y.numerator)
        return Expr(text, _bounded(x**y.numerator) if bits <= 40_000 else None)
    operations = {
        "+": lambda: x + y,
        "-": lambda: x - y,
        "*": lambda: x * y,
        "/": lambda: x / y,
        "//": lambda: Fraction(x // y),
        "%": lambda: x % y,
    }
    return Expr(text, _bounded(operations[op]()))


@st.composite
def literals(draw: st.DrawFn) -> Expr:
    kind = draw(st.sampled_from(["int", "long", "decimal", "exponent", "huge", "percent", "name"]))
    if kind == "int":
        n = draw(st.integers(0, 10**6))
        return Expr(str(n), Fraction(n))
    if kind == "long":  # long digit strings, up to about 1,500 digits
        digits = draw(st.integers(1, 9)) * 10 ** draw(st.integers(0, 1_500)) + draw(st.integers(0))
        return Expr(str(digits), Fraction(digits))
    if kind == "decimal":
        whole, frac = draw(st.integers(0, 10**9)), draw(st.text("0123456789", min_size=1))
        return Expr(f"{whole}.{frac}", Fraction(f"{whole}.{frac}"))
    mantissa = draw(st.sampled_from(["1", "2.5", "9.99", "0.5", "123456789", "7"]))
    if kind in ("exponent", "huge"):
        exponent = draw(
            st.integers(-400, 400) if kind == "exponent" else st.integers(-(10**15), 10**15)
        )
        text = f"{mantissa}e{exponent}"
        value = Fraction(mantissa) * Fraction(10) ** exponent if abs(exponent) <= 4_000 else None
        return Expr(text, value)
    if kind == "percent":
        n = draw(st.integers(0, 1_000))
        return Expr(f"{n}%", Fraction(n, 100))
    name = draw(st.sampled_from(["pi", "e", "tau", "x", "__import__", "()", "...", "''"]))
    return Expr(name, None)


def _call(name: str, args: list[Expr]) -> Expr:
    text = f"{name}({', '.join(a.text for a in args)})"
    values = [a.value for a in args]
    if UNDEFINED in values:
        return Expr(text, UNDEFINED)
    if not all(isinstance(v, Fraction) for v in values):
        return Expr(text, None)
    xs: list[Fraction] = [v for v in values if isinstance(v, Fraction)]
    whole = all(x.denominator == 1 for x in xs)
    if name == "abs" and len(xs) == 1:
        return Expr(text, abs(xs[0]))
    if name in ("min", "max") and xs:
        return Expr(text, min(xs) if name == "min" else max(xs))
    if name == "round" and len(xs) == 1:
        return Expr(text, Fraction(round(xs[0])))
    if name == "factorial" and len(xs) == 1 and whole and 0 <= xs[0] <= 300:
        from math import factorial

        return Expr(text, Fraction(factorial(int(xs[0]))))
    if name == "comb" and len(xs) == 2 and whole and 0 <= xs[0] <= 500 and xs[1] >= 0:
        from math import comb

        return Expr(text, Fraction(comb(int(xs[0]), int(xs[1]))))
    return Expr(text, None)


FUNCTIONS = ["abs", "min", "max", "round", "factorial", "comb", "sqrt", "log", "sin", "exp",
             "float", "gcd", "lcm", "perm", "cbrt", "floor", "percent", "open"]  # fmt: skip
OPERATORS = ["+", "-", "*", "/", "//", "%", "**", "^"]


def _negate(e: Expr) -> Expr:
    return Expr(f"-({e.text})", -e.value if isinstance(e.value, Fraction) else e.value)


def _extend(inner: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    return st.one_of(
        st.builds(_combine, st.sampled_from(OPERATORS), inner, inner),
        st.builds(_negate, inner),
        st.builds(_call, st.sampled_from(FUNCTIONS), st.lists(inner, min_size=1, max_size=3)),
    )


NESTED_POWERS = st.builds(
    # the classic blow-up: 2**2**2**2, 9^9^9
    lambda bases, op: Expr(op.join(str(b) for b in bases), None),
    st.lists(st.integers(2, 12), min_size=2, max_size=5),
    st.sampled_from(["**", "^"]),
)
EXPRESSIONS = st.recursive(st.one_of(literals(), NESTED_POWERS), _extend, max_leaves=12)


@settings(
    max_examples=300,
    deadline=None,  # the per-call deadline is enforced on the child process
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(expression=EXPRESSIONS)
def test_every_call_answers_in_time_and_exact_means_exact(
    calculator: CalculatorProcess, expression: Expr
) -> None:
    reply = calculator.calculate(expression.text)
    assert reply["kind"] != "crash", reply.get("traceback")
    if expression.value == UNDEFINED:
        assert reply["kind"] == "refused", f"{expression.text} is undefined, got {reply}"
    if reply["kind"] == "ok" and isinstance(expression.value, Fraction):
        if reply["exact"]:
            assert Fraction(reply["value"]) == expression.value, expression.text
        else:  # a float fallback (a fraction's huge power) must still be close
            expected = (
                float(expression.value) if expression.value.numerator.bit_length() < 1000 else None
            )
            if expected is not None and abs(expected) > 1e-300:
                assert abs(float(reply["value"]) / expected - 1) < 1e-9, expression.text  # fmt: skip


BOUNDED = [
    ("1e100000000", "the number 1e100000000 is too large"),
    ("1e-100000000", "the number 1e-100000000 is too small"),
    ("-9.99e999999999999 + 1", "too large"),
    ("2**2**2**2**2", "too large"),
    ("perm(10000, 10000)", "too large"),
    ("(3/7)**12000 % (1/7)**12000", "too small"),
    ("lcm(" + ", ".join(f"7**4000+{i}" for i in range(40)) + ")", "too large"),
]


@pytest.mark.parametrize(("expression", "message"), BOUNDED)
def test_expansions_are_refused_before_they_are_computed(
    calculator: CalculatorProcess, expression: str, message: str
) -> None:
    # 1e100000000 once expanded to a 330-million-bit integer holding the GIL: the
    # tool's timeout never fired and `agentlab run` hung.
    reply = calculator.calculate(expression, deadline_s=1.0)
    assert reply["kind"] == "refused" and message in reply["message"], reply


def test_agentlab_run_with_a_hostile_expression_finishes(tmp_path: Path) -> None:
    # The reported hang: a plan step `1e100000000` froze `agentlab run` for good, since
    # the tool's timeout thread never got the GIL back.
    cassette = write_cassette(
        tmp_path / "c.jsonl",
        plan(step("s1", "calculator", expression="1e100000000 * 2")),
        finish("I could not compute it."),
    )
    started = time.monotonic()
    done = agentlab("run", "What is 1e100000000 * 2?", "--model", f"replay:{cassette}",
                    "--no-memory", cwd=tmp_path, timeout=120)  # fmt: skip
    assert time.monotonic() - started < 60, "the run took as long as a hang"
    assert done.returncode == 0, done.stderr
    (call,) = of_type(only_trace(tmp_path / "agentlab-home" / "runs"), ToolCall)
    assert call.status == "error" and "1e100000000 is too large" in call.output
