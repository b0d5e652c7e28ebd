"""A code task's own examples, run against the plan's code before the run answers.

The examples come from the task text only (the benchmark's hidden tests are
never shown to the agent): doctest lines (`>>> f(2)` then `4`) and the
"`f(2) == 4`" / "`f(2) ➞ 4`" lines task statements write. They run in the
run's sandbox session, where the plan's code is already defined, through
`doctest`; the last line of the check's output counts what passed.
"""

from __future__ import annotations

import ast
import doctest
import re
from dataclasses import dataclass

MARKER = "EXAMPLES passed={passed} failed={failed}"
_MARKER = re.compile(r"^EXAMPLES passed=(\d+) failed=(\d+)$", re.M)
_ARROW = re.compile(
    r"^\s*(?:>>>\s*)?(?P<call>[A-Za-z_]\w*\s*\(.*\))\s*(?:==>|==|=>|->|➞|→)\s*(?P<want>.+?)\s*$"
)
MAX_EXAMPLES = 20
REPORT_CHARS = 1500


@dataclass(frozen=True, slots=True)
class Example:
    """One example: the expression to run and what it must give (a doctest `want`)."""

    source: str
    want: str


@dataclass(frozen=True, slots=True)
class ExampleOutcome:
    """How the examples went: counts, and doctest's report of the failures."""

    passed: int
    failed: int
    report: str

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.passed > 0


def defined_functions(code: str) -> list[str]:
    """Names of the top-level functions `code` defines (none when it does not parse)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    return [n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def task_examples(task: str, functions: list[str]) -> list[Example]:
    """The examples in `task` that call one of `functions` (doctests, then arrow lines)."""
    if not functions:
        return []
    names = set(functions)
    found: list[Example] = []
    try:
        parsed = doctest.DocTestParser().get_examples(task)
    except ValueError:  # inconsistent indentation in the task's docstring
        parsed = []
    for example in parsed:
        if _calls(example.source, names):
            found.append(Example(example.source.strip(), example.want.strip()))
    seen = {e.source for e in found}
    for line in task.splitlines():
        match = _ARROW.match(line)
        if match is None or line.lstrip().startswith(">>>"):
            continue
        call, want = match.group("call"), match.group("want").rstrip(".,;")
        if call in seen or not _calls(call, names) or not _is_expression(want):
            continue
        # Compared by equality, not by repr: the task may quote a string either way.
        found.append(Example(f"({call}) == ({want})", "True"))
        seen.add(call)
    return found[:MAX_EXAMPLES]


def check_program(examples: list[Example]) -> str:
    """Python that runs `examples` in the session's namespace and prints doctest's report of
    the failures, then the `MARKER` line."""
    text = "".join(f">>> {e.source}\n{e.want}\n" for e in examples)
    return (
        "import doctest as _d\n"
        f"_t = _d.DocTestParser().get_doctest({text!r}, dict(globals()), 'task examples', "
        "'<task>', 0)\n"
        "_out = []\n"
        "_r = _d.DocTestRunner(optionflags=_d.NORMALIZE_WHITESPACE | _d.ELLIPSIS)"
        ".run(_t, out=_out.append, clear_globs=False)\n"
        f"print(''.join(_out)[-{REPORT_CHARS}:])\n"
        f"print({MARKER!r}.format(passed=_r.attempted - _r.failed, failed=_r.failed))\n"
    )


def outcome_of(output: str) -> ExampleOutcome | None:
    """The check's outcome from its output (None when the marker line is missing)."""
    matches = list(_MARKER.finditer(output))
    if not matches:
        return None
    last = matches[-1]
    report = output[: last.start()].strip()
    return ExampleOutcome(int(last.group(1)), int(last.group(2)), report[-REPORT_CHARS:])


def _calls(source: str, names: set[str]) -> bool:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in names
        for n in ast.walk(tree)
    )


def _is_expression(text: str) -> bool:
    try:
        ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True
