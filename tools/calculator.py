"""calculator: exact arithmetic over a whitelisted AST, never `eval`.

Integers and fractions stay exact (`1/3 + 1/6` is `1/2`); decimals written in
the expression are read exactly too; functions such as `sqrt`, `log` and trig
return floats unless the result is exact. `^` means power (models write it so),
`15%` means 15/100 and `15% of 80` means 15/100 * 80.

The input is untrusted (it comes from a model): every value that could grow
(a literal's exponent, a power, a factorial, comb/perm, lcm, the decimal
rendering of a result) has its size estimated *before* it is computed, so a
hostile expression is refused in milliseconds. This matters beyond memory:
big-integer arithmetic holds the GIL, so the tool's timeout thread could never
fire while it ran. A result is `exact` only when no float took part in it.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agentlab.errors import ToolError
from agentlab.failures import FailureCategory
from agentlab.tools.base import AgentTool, ToolOutput

Number = int | Fraction | float

MAX_EXPRESSION_CHARS = 2_000
MAX_NODES = 400
MAX_RESULT_BITS = 13_000  # about 3,900 decimal digits, under int-to-str limit of 4,300
TOO_LARGE = "the result is too large (over about 3,900 digits)"
MAX_EXPONENT = 100_000
MAX_FACTORIAL = 1_400
MAX_COMB = 10_000
FLOAT_DIGITS = 15

# A number starts where no digit or point precedes it: without the look-behind the
# engine retries from every digit of a long run, quadratic in its length.
_PERCENT_OF = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*%\s*of\b", re.I)
_PERCENT = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*%(?!\s*[\d(.a-zA-Z])")
_DECIMAL_LITERAL = re.compile(
    r"(?P<whole>[0-9]*)(?:\.(?P<fraction>[0-9]*))?(?:[eE](?P<exponent>[+-]?[0-9]+))?"
)
_LOG2_10 = math.log2(10)


class CalculatorArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expression: str = Field(
        description="Arithmetic expression, e.g. '17*23+4', 'sqrt(2)', '15% of 80', '2**10'"
    )


class CalculatorResult(ToolOutput):
    """The value, exact when it can be, with a float approximation."""

    expression: str
    value: str
    """Exact integer, fraction `p/q`, terminating decimal, or a float rounded to 15 digits."""
    exact: bool
    approx: float | None = None

    def as_text(self) -> str:
        return self.value


class CalculatorError(ToolError):
    def __init__(self, message: str) -> None:
        super().__init__(
            message, category=FailureCategory.PLANNING_WRONG_ARGUMENT_VALUES, tool_name="calculator"
        )


def _check_size(value: Number) -> Number:
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise CalculatorError("the result is not a finite number (overflow or undefined)")
        return value
    if isinstance(value, Fraction):
        if value.denominator == 1:
            value = value.numerator
        elif max(value.numerator.bit_length(), value.denominator.bit_length()) > MAX_RESULT_BITS:
            raise CalculatorError(TOO_LARGE)
    if isinstance(value, int) and value.bit_length() > MAX_RESULT_BITS:
        raise CalculatorError(TOO_LARGE)
    return value


def _short(text: str, limit: int = 40) -> str:
    """`text` cut for an error message (a refused number can be thousands of digits)."""
    return text if len(text) <= limit else f"{text[: limit - 12]}... ({len(text)} chars)"


def _read_decimal(literal: str) -> Fraction:
    """A decimal literal (`2.5`, `.5`, `1e-3`, `1_000.5`) as the exact fraction it writes.

    The exponent is bounded before anything is expanded: `1e100000000` is
    eleven characters but a 330-million-bit integer.
    """
    match = _DECIMAL_LITERAL.fullmatch(literal.replace("_", ""))
    if match is None or not (match["whole"] or match["fraction"]):
        raise CalculatorError(f"cannot read the number {_short(literal)!r}")
    fraction = match["fraction"] or ""
    mantissa = int((match["whole"] or "") + fraction)
    exponent = int(match["exponent"] or "0") - len(fraction)
    if mantissa == 0:
        return Fraction(0)
    if abs(exponent) * _LOG2_10 + mantissa.bit_length() > MAX_RESULT_BITS:
        size = "large" if exponent > 0 else "small"
        raise CalculatorError(
            f"the number {_short(literal)} is too {size} to compute with exactly "
            "(limit about 3,900 digits)"
        )
    if exponent >= 0:
        return Fraction(mantissa * 10**exponent)
    return Fraction(mantissa, 10**-exponent)


def _as_int(value: Number, what: str) -> int:
    if isinstance(value, Fraction) and value.denominator == 1:
        return value.numerator
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise CalculatorError(f"{what} needs a whole number, got {_short(_render(value)[0])}")


def _float(value: Number) -> float:
    try:
        return float(value)
    except OverflowError:
        raise CalculatorError("the number is too large for a floating-point function") from None


def _power(base: Number, exponent: Number) -> Number:
    if isinstance(exponent, Fraction) and exponent.denominator == 1:
        exponent = exponent.numerator
    if isinstance(exponent, int) and isinstance(base, int | Fraction):
        return _exact_power(Fraction(base), exponent)
    return _float_power(base, exponent)


def _exact_power(base: Fraction, exponent: int) -> Number:
    if base == 0:
        if exponent < 0:
            raise CalculatorError("division by zero: 0 to a negative power")
        return 1 if exponent == 0 else 0
    if abs(base) == 1:
        return base ** (exponent & 1)  # 1 or -1, whatever the size of the exponent
    if abs(exponent) > MAX_EXPONENT:
        raise CalculatorError(
            f"exponent {_short(str(exponent))} is too large (limit {MAX_EXPONENT})"
        )
    # Bits of the result from log2 of the base (bit_length overestimates: 2 has 2 bits);
    # math.log2 takes an int of any size without converting it to a float.
    bits = abs(exponent) * max(math.log2(abs(base.numerator)), math.log2(base.denominator))
    if bits <= MAX_RESULT_BITS:
        return _check_size(base**exponent)
    if base.denominator == 1:
        raise CalculatorError("the power is too large (over about 3,900 digits)")
    # A fraction whose exact power is too long (1.0001**100000): the float answer,
    # reported as not exact, when the float can hold it.
    approx = _float_power(base, exponent)
    if approx == 0:
        raise CalculatorError("the power is too small to represent (it underflows to 0)")
    return approx


def _float_power(base: Number, exponent: Number) -> float:
    b, e = _float(base), _float(exponent)
    if b < 0 and not e.is_integer():
        raise CalculatorError("a negative number to a fractional power is not a real number")
    if b == 0 and e < 0:
        raise CalculatorError("division by zero: 0 to a negative power")
    try:
        result = math.pow(b, e)
    except OverflowError:
        raise CalculatorError("the power is too large for a float") from None
    _check_size(result)
    return result


def _sqrt(x: Number) -> Number:
    if x < 0:
        raise CalculatorError("sqrt of a negative number is not a real number")
    if isinstance(x, int | Fraction):
        fx = Fraction(x)
        num, den = math.isqrt(fx.numerator), math.isqrt(fx.denominator)
        if num * num == fx.numerator and den * den == fx.denominator:
            return Fraction(num, den)
    return math.sqrt(_float(x))


def _natural_log(x: Number) -> float:
    if isinstance(x, int):
        return math.log(x)
    if isinstance(x, Fraction):
        # Numerator and denominator apart: a huge fraction has no float, but its log does.
        return math.log(x.numerator) - math.log(x.denominator)
    return math.log(x)


def _log(x: Number, base: Number | None = None) -> float:
    if x <= 0 or (base is not None and (base <= 0 or base == 1)):
        raise CalculatorError("log needs a positive number (and a positive base other than 1)")
    fx = _natural_log(x)
    return fx if base is None else fx / _natural_log(base)


def _factorial(n: Number) -> int:
    k = _as_int(n, "factorial")
    if k < 0:
        raise CalculatorError("factorial needs a non-negative whole number")
    if k > MAX_FACTORIAL:
        raise CalculatorError(f"factorial({_short(str(k))}) is too large (limit {MAX_FACTORIAL})")
    return math.factorial(k)


def _comb_like(fn: Callable[[int, int], int], name: str) -> Callable[[Number, Number], int]:
    def apply(n: Number, k: Number) -> int:
        a, b = _as_int(n, name), _as_int(k, name)
        if a < 0 or b < 0:
            raise CalculatorError(f"{name} needs non-negative whole numbers")
        if a > MAX_COMB:
            raise CalculatorError(f"{name}({_short(str(a))}, ...) is too large (limit {MAX_COMB})")
        if b > a:
            return 0
        # log2 of the result from lgamma, before computing it: perm(10000, 10000) is 10000!.
        log_result = math.lgamma(a + 1) - math.lgamma(a - b + 1)
        if name == "comb":
            log_result -= math.lgamma(b + 1)
        if log_result / math.log(2) > MAX_RESULT_BITS:
            raise CalculatorError(f"{name}({a}, {b}) is too large (over about 3,900 digits)")
        return fn(a, b)

    return apply


def _float_fn(fn: Callable[[float], float], name: str) -> Callable[[Number], float]:
    def apply(x: Number) -> float:
        try:
            return fn(_float(x))
        except (ValueError, OverflowError):
            raise CalculatorError(
                f"{name}({_short(_render(x)[0])}) is outside the function's domain"
            ) from None

    return apply


def _round(x: Number, digits: Number = 0) -> Number:
    places = _as_int(digits, "round")
    if abs(places) > 100:
        raise CalculatorError("round keeps at most 100 digits")
    if isinstance(x, float):
        return round(x, places)
    return round(Fraction(x), places) if places else round(Fraction(x))


def _gcd(*values: Number) -> int:
    if not values:
        raise CalculatorError("gcd needs at least one number")
    return math.gcd(*(_as_int(v, "gcd") for v in values))


def _lcm(*values: Number) -> int:
    if not values:
        raise CalculatorError("lcm needs at least one number")
    result = 1
    for value in values:
        # One at a time with the size checked: the lcm of many big coprime numbers grows
        # without bound, and gcd of million-bit numbers is slow.
        result = math.lcm(result, _as_int(value, "lcm"))
        if result.bit_length() > MAX_RESULT_BITS:
            raise CalculatorError(TOO_LARGE)
    return result


def _minmax(fn: Callable[..., Any], name: str) -> Callable[..., Number]:
    def apply(*values: Number) -> Number:
        if not values:
            raise CalculatorError(f"{name} needs at least one number")
        result: Number = fn(values)
        return result

    return apply


def _mean(*values: Number) -> Number:
    if not values:
        raise CalculatorError("mean needs at least one number")
    total: Number = sum(values, 0)
    return total / len(values) if isinstance(total, float) else Fraction(total) / len(values)


def _percent(part: Number, whole: Number) -> Number:
    if whole == 0:
        raise CalculatorError("division by zero: percent of a whole of 0")
    return Fraction(part) / Fraction(whole) * 100


FUNCTIONS: dict[str, Callable[..., Number]] = {
    "sqrt": _sqrt,
    "cbrt": lambda x: _power(x, Fraction(1, 3)) if x >= 0 else -_power(-x, Fraction(1, 3)),
    "log": _log,
    "ln": lambda x: _log(x),
    "log10": lambda x: _log(x, 10),
    "log2": lambda x: _log(x, 2),
    "exp": _float_fn(math.exp, "exp"),
    "sin": _float_fn(math.sin, "sin"),
    "cos": _float_fn(math.cos, "cos"),
    "tan": _float_fn(math.tan, "tan"),
    "asin": _float_fn(math.asin, "asin"),
    "acos": _float_fn(math.acos, "acos"),
    "atan": _float_fn(math.atan, "atan"),
    "sinh": _float_fn(math.sinh, "sinh"),
    "cosh": _float_fn(math.cosh, "cosh"),
    "tanh": _float_fn(math.tanh, "tanh"),
    "degrees": _float_fn(math.degrees, "degrees"),
    "radians": _float_fn(math.radians, "radians"),
    "factorial": _factorial,
    "gcd": _gcd,
    "lcm": _lcm,
    "comb": _comb_like(math.comb, "comb"),
    "perm": _comb_like(math.perm, "perm"),
    "abs": lambda x: abs(x),
    "round": _round,
    "floor": lambda x: math.floor(x),
    "ceil": lambda x: math.ceil(x),
    "min": _minmax(min, "min"),
    "sum": lambda *values: sum(values, 0),
    "mean": _mean,
    "count": lambda *values: len(values),
    "max": _minmax(max, "max"),
    "float": lambda x: _float(x),
    "percent": _percent,
}
CONSTANTS: dict[str, Number] = {"pi": math.pi, "e": math.e, "tau": math.tau}

_BINARY: dict[type[ast.operator], Callable[[Number, Number], Number]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: (
        (Fraction(a) / Fraction(b))
        if not isinstance(a, float) and not isinstance(b, float)
        else a / b
    ),
    ast.FloorDiv: lambda a, b: a // b,
    ast.Mod: lambda a, b: a % b,
    ast.Pow: _power,
}


class Evaluator:
    """The whitelisted AST walk: each node type it allows has a `_<NodeType>` method, any
    other node is refused (`agentlab.conditions` extends it with comparisons and logic)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.decimal_input = False
        self.inexact = False
        """A float took part: the result is an approximation, even if it is a whole number."""

    def evaluate(self, node: ast.AST) -> Number:
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            raise CalculatorError(_refusal(node))
        value: Number = method(node)
        if isinstance(value, float):
            self.inexact = True
        return _check_size(value)

    def _Expression(self, node: ast.Expression) -> Number:
        return self.evaluate(node.body)

    def _Constant(self, node: ast.Constant) -> Number:
        value = node.value
        if value is Ellipsis:
            raise CalculatorError("'...' is not a number: write every term out")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise CalculatorError(f"only numbers are allowed, not {_short(repr(value))}")
        if isinstance(value, float):
            # Read decimals as written (0.1 is exactly 1/10), not as binary floats.
            self.decimal_input = True
            segment = ast.get_source_segment(self.source, node) or repr(value)
            return _read_decimal(segment)
        return value

    def _UnaryOp(self, node: ast.UnaryOp) -> Number:
        operand = self.evaluate(node.operand)
        if isinstance(node.op, ast.USub):
            return -operand
        if isinstance(node.op, ast.UAdd):
            return +operand
        raise CalculatorError(_refusal(node))

    def _BinOp(self, node: ast.BinOp) -> Number:
        operation = _BINARY.get(type(node.op))
        if operation is None:
            raise CalculatorError(_refusal(node))
        left, right = self.evaluate(node.left), self.evaluate(node.right)
        if isinstance(node.op, ast.Div | ast.FloorDiv | ast.Mod) and right == 0:
            raise CalculatorError("division by zero")
        return operation(left, right)

    def _Name(self, node: ast.Name) -> Number:
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        if node.id in FUNCTIONS:
            raise CalculatorError(f"{node.id} is a function: call it, e.g. {node.id}(2)")
        raise CalculatorError(
            f"unknown name {node.id!r}: use numbers, operators, and the functions "
            f"{', '.join(sorted(FUNCTIONS))}; constants pi, e, tau"
        )

    def _Call(self, node: ast.Call) -> Number:
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            name = node.func.id if isinstance(node.func, ast.Name) else "that"
            raise CalculatorError(
                f"unknown function {name!r}; available: {', '.join(sorted(FUNCTIONS))}"
            )
        if node.keywords:
            raise CalculatorError("functions take positional arguments only")
        # A list argument (a fan-out's results: `sum([3, 4, 5])`) is its numbers, in order.
        args = [
            self.evaluate(part)
            for arg in node.args
            for part in (arg.elts if isinstance(arg, ast.List) else [arg])
        ]
        try:
            return FUNCTIONS[node.func.id](*args)
        except TypeError:
            raise CalculatorError(f"wrong number of arguments for {node.func.id}") from None


def _refusal(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return "attribute access is not allowed; the calculator evaluates arithmetic only"
    if isinstance(node, ast.Lambda):
        return "lambdas are not allowed; the calculator evaluates arithmetic only"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitXor | ast.BitOr | ast.BitAnd):
        return "bitwise operators are not supported; use ** for powers"
    if isinstance(node, ast.Compare | ast.BoolOp):
        return "comparisons and logic are not supported; the calculator returns numbers"
    return f"{type(node).__name__} is not allowed; the calculator evaluates arithmetic only"


def _normalise(expression: str) -> str:
    text = expression.strip().replace("×", "*").replace("÷", "/").replace("−", "-")
    text = text.replace("^", "**")
    text = _PERCENT_OF.sub(r"(\1/100)*", text)
    return _PERCENT.sub(r"(\1/100)", text)


def _decimal_text(value: Fraction) -> str | None:
    """`value` as an exact terminating decimal (`-12.375`), or None when it has none
    or its digits would pass the size limit."""
    den = value.denominator
    twos = (den & -den).bit_length() - 1
    rest, fives = den >> twos, 0
    while rest % 5 == 0:
        rest, fives = rest // 5, fives + 1
    if rest != 1:
        return None
    places = max(twos, fives)
    # value = n / (2^twos 5^fives) = n 2^(places-twos) 5^(places-fives) / 10^places
    scaled = abs(value.numerator) * 2 ** (places - twos) * 5 ** (places - fives)
    if scaled.bit_length() > MAX_RESULT_BITS:
        return None
    digits = str(scaled).rjust(places + 1, "0")
    sign = "-" if value < 0 else ""
    return f"{sign}{digits[:-places]}.{digits[-places:]}"


def _render(value: Number, decimal_input: bool = False) -> tuple[str, bool]:
    """The text of a value and whether it is exact (as far as the value itself tells)."""
    if isinstance(value, float):
        return f"{value:.{FLOAT_DIGITS}g}", False
    if isinstance(value, int):
        return str(value), True
    if value.denominator == 1:
        return str(value.numerator), True
    # A terminating decimal, printed exactly when decimals were written: 0.1 + 0.2 -> 0.3
    text = _decimal_text(value) if decimal_input else None
    return text or f"{value.numerator}/{value.denominator}", True


def calculate(expression: str) -> CalculatorResult:
    """Evaluate `expression` exactly; raises `ToolError` with a clear message on any refusal."""
    if not isinstance(expression, str) or not expression.strip():
        raise CalculatorError("the expression is empty")
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise CalculatorError(
            f"the expression is {len(expression)} characters long; the limit is {MAX_EXPRESSION_CHARS}"
        )
    source = _normalise(expression)
    try:
        tree = ast.parse(source, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        hint = " ('...' is not a number: write every term)" if "..." in source else ""
        raise CalculatorError(f"not a valid expression: {getattr(exc, 'msg', exc)}{hint}") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise CalculatorError(f"the expression is too complex (over {MAX_NODES} parts)")
    evaluator = Evaluator(source)
    try:
        value = evaluator.evaluate(tree)
    except ToolError:
        raise
    except ZeroDivisionError:
        raise CalculatorError("division by zero") from None
    except OverflowError:
        raise CalculatorError(
            "a number is too large for floating-point arithmetic; keep the values exact"
        ) from None
    except (ValueError, ArithmeticError, RecursionError, MemoryError) as exc:
        raise CalculatorError(f"cannot compute this: {exc}") from None
    text, exact = _render(value, evaluator.decimal_input)
    # floor(sqrt(2) * 10**20) is a whole number, but not the exact one.
    exact = exact and not evaluator.inexact
    try:
        approx: float | None = float(value)
    except OverflowError:
        approx = None
    return CalculatorResult(expression=expression, value=text, exact=exact, approx=approx)


class Calculator(AgentTool):
    """Exact arithmetic and math functions; the safe alternative to evaluating code."""

    name: str = "calculator"
    description: str = (
        "Evaluate one arithmetic expression exactly. Operators + - * / // % **, parentheses, "
        "percentages (15% of 80), functions sqrt log exp sin cos tan factorial gcd lcm comb "
        "round floor ceil abs min max, constants pi e."
    )
    args_schema: type[BaseModel] = CalculatorArgs
    timeout_s: float = 5.0
    idempotent: bool = True

    def _run(self, expression: str, **_: Any) -> CalculatorResult:
        return calculate(expression)
