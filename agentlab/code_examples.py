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
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentlab.state import StepResult

MARKER = "EXAMPLES passed={passed} failed={failed}"
_MARKER = re.compile(r"^EXAMPLES passed=(\d+) failed=(\d+)$", re.M)
_ARROW = re.compile(
    r"(?<![\w.])(?P<call>[A-Za-z_]\w*\s*\(.*\))\s*(?:==>|==|=>|->|➞|→)\s*(?P<want>.+?)\s*$"
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


def holds_code(answer: str) -> bool:
    """Whether an answer defines a function, as it stands or in a fenced block (not prose
    about code, such as "The function is complete")."""
    return any(defined_functions(source) for source in [answer, *_FENCED.findall(answer)])


def last_ran_code(results: Iterable[StepResult]) -> str | None:
    """The code of the last python step that ran without error and defines a function."""
    for result in reversed(list(results)):
        code = result.args.get("code")
        ran = result.tool == "python" and result.status == "ok"
        if ran and isinstance(code, str) and defined_functions(code):
            return code
    return None


_ASKS_FOR_CODE = re.compile(
    r"\b(?:write|implement|create|define|code)\b[^.?!\n]{0,80}?"
    r"\b(?:function|class|method|program|script)\b",
    re.IGNORECASE,
)


def asks_for_code(task: str) -> bool:
    """Whether the task asks for a program ("write a Python function ...", a `def` to
    complete): its answer is then the code, not what the code prints."""
    return bool(_ASKS_FOR_CODE.search(task)) or bool(re.search(r"^\s*def \w+\(", task, re.M))


def delivers_code(deliverable: str, task: str, tools: Iterable[str]) -> bool:
    """Whether a run's answer is code: `deliverable="code"`, or `auto` with the python tool
    and a task that asks for a program."""
    if deliverable == "code":
        return True
    return deliverable == "auto" and "python" in set(tools) and asks_for_code(task)


def task_functions(task: str) -> list[str]:
    """Names of the functions the task itself writes `def` lines for (HumanEval style)."""
    return re.findall(r"def (\w+)\(", task)


def gives_examples(task: str) -> bool:
    """Whether the task shows examples of the code's use (doctests, `f(x) == y`, `➞`)."""
    return bool(task_examples(task, task_functions(task)))


def runs_alone(source: str) -> bool:
    """Whether `source` compiles as a program of its own (`return` outside a function only
    fails here, not in `ast.parse`)."""
    try:
        compile(source, "<code>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def task_code(task: str) -> str | None:
    """The Python the task gives to complete: the task itself when it parses, else its
    longest fenced block that does (HumanEval's prompt in a fence); None without a `def`."""
    sources = [task] if runs_alone(task) else sorted(_FENCED.findall(task), key=len, reverse=True)
    return next((s for s in sources if runs_alone(s) and task_functions(s)), None)


def _awaits_body(source: str) -> bool:
    """Whether the last top-level function of `source` has no body yet (a docstring, `pass`
    or `...` at most): the function a completion continues."""
    functions = [n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)]
    if not functions:
        return False
    return all(
        isinstance(node, ast.Pass)
        or (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
        for node in functions[-1].body
    )


def only_header(code: str, task: str) -> bool:
    """Whether `code` defines one of the task's functions with no body yet (its `def` and
    docstring copied from the task): a step that a body-only step goes on to complete."""
    if not runs_alone(code) or not (given := task_code(task)):
        return False
    return bool(set(defined_functions(code)) & set(task_functions(given))) and _awaits_body(code)


JSON_CLOSERS = "}]"
MAX_CLOSERS = 4


def _without_closers(code: str) -> str | None:
    mended = code.rstrip()
    for _ in range(MAX_CLOSERS):
        if not mended or mended[-1] not in JSON_CLOSERS:
            return None
        mended = mended[:-1].rstrip()
        if runs_alone(mended):
            return mended + "\n"
    return None


def _triple_quoted_docstrings(code: str) -> str:
    """`code` with each docstring a model opened and closed with one quote across lines
    given its three quotes (inside JSON each quote is escaped; a model wrote one)."""
    lines = code.split("\n")
    previous = ""
    index = 0
    while index < len(lines):
        line = lines[index]
        stripped = line.lstrip()
        opener = stripped[:1]
        if (
            previous.lstrip().startswith(("def ", "async def ", "class "))
            and previous.rstrip().endswith(":")
            and opener in ("'", '"')
            and not stripped.startswith(opener * 3)
            and opener not in stripped[1:]
        ):
            for close in range(index + 1, len(lines)):
                tail = lines[close].rstrip()
                if tail.endswith(opener) and not tail.endswith(opener * 3):
                    indent = line[: len(line) - len(stripped)]
                    lines[index] = indent + opener * 3 + stripped[1:]
                    lines[close] = tail[:-1] + opener * 3
                    index = close
                    break
        if line.strip():
            previous = lines[index]
        index += 1
    return "\n".join(lines)


def mended_code(code: str) -> str | None:
    """`code` mended of what a model writing code inside a JSON string gets wrong, when
    that is all that keeps it from compiling, else None: the JSON brackets it typed into
    the end (the plan's `}` that closes `args`: `for i in range(n)]}`), and a docstring
    opened and closed with one quote instead of three."""
    if runs_alone(code):
        return None
    docstrings = _triple_quoted_docstrings(code)
    for candidate in (code, docstrings):
        if candidate != code and runs_alone(candidate):
            return candidate
        if (mended := _without_closers(candidate)) is not None:
            return mended
    return None


def uses_any(source: str, names: Iterable[str]) -> bool:
    """Whether `source` names one of `names` (calls it, passes it, reads it); code that does
    not parse counts as using them, since nothing shows it does not."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return True
    wanted = set(names)
    return any(isinstance(n, ast.Name) and n.id in wanted for n in ast.walk(tree))


def completed_body(code: str, task: str) -> str | None:
    """`code` completed under the task's last `def` when it is that function's body alone
    (HumanEval's convention: the prompt, then the body), else None.

    Only code that does not run as it stands (`return` outside a function, an indented
    first line) and defines none of the task's functions counts as a body; the completion
    must parse. The body is indented to the function's level when it was written flush.
    """
    given = task_code(task)
    if given is None or not _awaits_body(given) or not code.strip() or runs_alone(code):
        return None
    if set(defined_functions(code)) & set(task_functions(given)):
        return None
    lines = code.strip("\n").splitlines()
    flush = not lines[0][:1].isspace()
    body = "\n".join(("    " + line if flush and line.strip() else line) for line in lines)
    completed = given.rstrip() + "\n" + body + "\n"
    if not runs_alone(completed):
        return None
    return completed


def chosen_asserts(pairs: Iterable[tuple[str, str]], functions: Iterable[str]) -> list[str]:
    """Assert lines for the examples a model chose (`call`, `returns`): only calls of
    `functions` with literal arguments, and literal values; the others are left out."""
    names = set(functions)
    lines: list[str] = []
    for call, returns in pairs:
        source, want = _one_line(call), _one_line(returns)
        if source is None or want is None or not _is_literal(want):
            continue
        if _calls(source, names) and _literal_arguments(source):
            lines.append(f"assert {source} == {want}")
    return lines


def own_asserts(code: str) -> int:
    """How many top-level `assert` statements `code` makes: the quick checks a plan writes
    after its function (they ran when the step ran; a failing one fails the step)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return 0
    return sum(1 for node in tree.body if isinstance(node, ast.Assert))


_FENCED = re.compile(r"```[ \t]*(?:python|py)?[ \t]*\n(.*?)```", re.S | re.I)


def _docstrings(task: str) -> str:
    """The task's text with docstrings as doctest reads them: when the task is Python (or
    holds fenced Python, HumanEval style), the docstrings' cleaned text; else the text
    itself. Read raw, a docstring's closing quotes would join the last example's expected
    output, and fences and indentation would make doctest give up."""
    texts: list[str] = []
    for source in [task, *_FENCED.findall(task)]:
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        texts += [
            ast.get_docstring(node) or ""
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Module)
        ]
    return "\n\n".join(t for t in texts if t) or task


def task_examples(task: str, functions: list[str]) -> list[Example]:
    """The examples in `task` that call one of `functions` (doctests, then arrow lines)."""
    if not functions:
        return []
    names = set(functions)
    found: list[Example] = []
    text = _docstrings(task)
    try:
        parsed = doctest.DocTestParser().get_examples(text)
    except ValueError:  # inconsistent indentation in the task's docstring
        parsed = []
    for example in parsed:
        if not _calls(example.source, names):
            continue
        source, want = example.source.strip(), _value_lines(example.want)
        if not want:
            # `>>> f(x) == y` with nothing after it: the comparison itself must hold.
            if not _is_comparison(source):
                continue
            want = "True"
        elif _is_literal(want) and (expression := _one_line(source)) is not None:
            # Compared by value: the task may quote a string or wrap a list either way.
            source, want = f"({expression}) == ({_one_line(want)})", "True"
        found.append(Example(source, want))
    seen = {e.source for e in found}
    for line in text.splitlines():
        match = _ARROW.search(line)
        if match is None or line.lstrip().startswith(">>>"):
            continue
        call, want = match.group("call"), match.group("want").rstrip(".,;")
        want = _JS_LITERALS.get(want, want)
        if call in seen or not _calls(call, names) or not _literal_arguments(call):
            continue
        if not _is_literal(want):
            continue
        # Compared by equality, not by repr: the task may quote a string either way.
        found.append(Example(f"({call}) == ({want})", "True"))
        seen.add(call)
    return found[:MAX_EXAMPLES]


def check_program(examples: list[Example], label: str = "task examples") -> str:
    """Python that runs `examples` in the session's namespace and prints doctest's report of
    the failures, then the `MARKER` line. `label` names the check (one per plan)."""
    text = "".join(f">>> {e.source}\n{e.want}\n" for e in examples)
    return (
        f"# {label}\n"
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


def _value_lines(want: str) -> str:
    """A doctest's expected output, without the prose a task statement may write right
    after it: its first line, and more only while a bracket it opened is still open."""
    lines = want.strip().splitlines()
    kept: list[str] = []
    depth = 0
    for line in lines:
        kept.append(line)
        depth += sum(line.count(c) for c in "([{") - sum(line.count(c) for c in ")]}")
        if depth <= 0:
            break
    return "\n".join(kept)


def _calls(source: str, names: set[str]) -> bool:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in names
        for n in ast.walk(tree)
    )


_JS_LITERALS = {"true": "True", "false": "False", "null": "None"}


def _one_line(text: str) -> str | None:
    """An expression on one line, comments dropped (None when `text` is not one)."""
    try:
        return ast.unparse(ast.parse(text.strip(), mode="eval"))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _is_literal(text: str) -> bool:
    try:
        ast.literal_eval(text)
    except (SyntaxError, ValueError, TypeError, RecursionError, MemoryError):
        return False
    return True


def _literal_arguments(call: str) -> bool:
    """Whether every argument of the call is a literal (a task that writes `f(xyy)` for the
    string "xyy" gives no example that can run)."""
    try:
        node = ast.parse(call, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    if not isinstance(node, ast.Call):
        return False
    return all(_is_literal(ast.unparse(a)) for a in [*node.args, *(k.value for k in node.keywords)])


def _is_comparison(source: str) -> bool:
    try:
        tree = ast.parse(source, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return isinstance(tree.body, ast.Compare)


def _is_expression(text: str) -> bool:
    try:
        ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True
