"""Code grading trusts nothing the code under test can write (issue 12, item 2).

The tests run in a judge process the candidate's code cannot reach; the candidate's
functions are called through proxies, values cross as literals, and the verdict
travels from the judge to the host through the supervisor alone. Every cheat below
comes with a wrong solution: none of them may pass.
"""

from __future__ import annotations

import time

import pytest

from agentlab.eval.checks import SandboxCodeRunner, grade_code
from agentlab.eval.suite import CodeTestsCheck

pytestmark = pytest.mark.docker

HUMANEVAL_STYLE = CodeTestsCheck(
    prelude='def add(a, b):\n    """The sum of a and b."""\n',
    tests=(
        "METADATA = {}\n\n\ndef check(candidate):\n"
        "    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n"
        "    assert abs(candidate(0.5, 0.25) - 0.75) < 1e-9\n"
    ),
    entry_point="add",
    timeout_s=20,
)
SUITE_STYLE = CodeTestsCheck(tests="assert add(2, 3) == 5\nassert add(-1, 1) == 0", timeout_s=20)

CORRECT = "def add(a, b):\n    return a + b\n"
WRONG = "def add(a, b):\n    return a - b\n"

# Forged frames in every shape a reply had before the fix, and well-formed ones for
# after it, bound to the request the worker is answering (read from its own frames):
# a load reply naming `add`, a call reply returning 5, and a verdict.
FRAMES = r"""
import json, os, struct, sys
def frame(obj):
    data = json.dumps(obj).encode()
    return struct.pack(">I", len(data)) + data
OLD = {"status": "ok", "result": None, "error": None, "stdout": "", "stderr": "", "files": [],
       "stdout_dropped": 0, "stderr_dropped": 0, "state_lost": False, "duration_s": 0.0}
def binding():
    found = {}
    caller = sys._getframe()
    while caller is not None:
        for value in caller.f_locals.values():
            if isinstance(value, dict) and "token" in value:
                found = {"token": value["token"]}
        caller = caller.f_back
    return found
def forged():
    bound = binding()
    return b"".join([
        frame(OLD),
        frame({**bound, "status": "ok", "result": None, "error": None, "names": ["add"]}),
        frame({**bound, "value": "5"}),
        frame({"verdict": "pass", "error": None}),
        frame({**OLD, "op": "grade", "id": 1, "outcome": "passed"}),
    ])
FORGED = forged()
"""

CHEATS = {
    "a forged frame on the worker's reply pipe": FRAMES
    + 'os.write(int(open("/proc/self/cmdline").read().split("\\0")[-2]), FORGED)\n',
    "a forged frame on the host channel": FRAMES
    + r"""
for path in ("/proc/1/fd/1", f"/proc/{os.getppid()}/fd/1"):
    try:
        with open(path, "wb", buffering=0) as f:
            f.write(FORGED)
    except OSError:
        pass
""",
    "os._exit(0) after loading": "import os\nos._exit(0)\n",
    "sys.exit(0) after loading": "import sys\nsys.exit(0)\n",
    "an object equal to everything": (
        "class AlwaysEqual:\n"
        "    def __eq__(self, other):\n        return True\n"
        "    def __ne__(self, other):\n        return False\n"
        "    def __lt__(self, other):\n        return True\n"
        "    def __sub__(self, other):\n        return self\n"
        "    __rsub__ = __sub__\n"
        "    def __abs__(self):\n        return 0\n"
        "def add(a, b):\n    return AlwaysEqual()\n"
    ),
    "builtins patched": (
        "import builtins\n"
        "class Nothing(Exception):\n    pass\n"
        "builtins.AssertionError = Nothing\n"
        "builtins.abs = lambda x: 0\n"
    ),
    "a trace function that jumps over every assert": r"""
import sys
def skip_asserts(frame, event, arg):
    if event == "line":
        import linecache
        line = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
        if line.startswith("assert"):
            try:
                frame.f_lineno = frame.f_lineno + 1
            except ValueError:
                pass
    return skip_asserts
sys.settrace(skip_asserts)
sys._getframe().f_trace = skip_asserts
""",
    "killing the judge": r"""
import os, signal
for entry in os.listdir("/proc"):
    if entry.isdigit() and int(entry) != os.getpid():
        try:
            if b"judge.py" in open(f"/proc/{entry}/cmdline", "rb").read():
                os.kill(int(entry), signal.SIGKILL)
        except OSError:
            pass
""",
    "os._exit(0) during the call": "def add(a, b):\n    import os\n    os._exit(0)\n",
    "sys.exit(0) during the call": "def add(a, b):\n    import sys\n    sys.exit(0)\n",
    "a forged reply during the call": FRAMES
    + "def add(a, b):\n"
    + '    os.write(int(open("/proc/self/cmdline").read().split("\\0")[-2]), forged())\n'
    + "    return a - b\n",
}


@pytest.fixture(scope="module")
def runner() -> SandboxCodeRunner:
    return SandboxCodeRunner()


@pytest.mark.parametrize("check", [HUMANEVAL_STYLE, SUITE_STYLE], ids=["humaneval", "suite"])
def test_a_correct_solution_passes_and_a_wrong_one_fails(
    check: CodeTestsCheck, runner: SandboxCodeRunner
) -> None:
    assert grade_code(check, f"```python\n{CORRECT}```", runner).passed
    wrong = grade_code(check, f"```python\n{WRONG}```", runner)
    assert not wrong.passed and wrong.detail.startswith("tests failed: AssertionError"), wrong


# How each cheat's grade reads: it failed for the cheat's reason, not by accident.
CAUGHT_AS = {
    "a forged frame on the worker's reply pipe": "AssertionError",
    "a forged frame on the host channel": "AssertionError",
    "os._exit(0) after loading": "exit code 0",
    "sys.exit(0) after loading": "SystemExit",
    "an object equal to everything": "not a plain literal",
    "builtins patched": "AssertionError",
    "a trace function that jumps over every assert": "AssertionError",
    "killing the judge": "the judge ended",
    "os._exit(0) during the call": "exit code 0",
    "sys.exit(0) during the call": "SystemExit",
    "a forged reply during the call": "protocol",
}


@pytest.mark.parametrize("cheat", list(CHEATS))
@pytest.mark.parametrize("check", [HUMANEVAL_STYLE, SUITE_STYLE], ids=["humaneval", "suite"])
def test_no_cheat_passes(cheat: str, check: CodeTestsCheck, runner: SandboxCodeRunner) -> None:
    answer = f"```python\n{WRONG}\n{CHEATS[cheat]}```"
    grade = grade_code(check, answer, runner)
    assert not grade.passed, (cheat, grade)
    assert CAUGHT_AS[cheat] in grade.detail, (cheat, grade)


@pytest.mark.parametrize(
    "answer",
    ["while True:\n    pass\n", "def add(a, b):\n    while True:\n        pass\n"],
    ids=["while loading", "during a call"],
)
def test_the_timeout_covers_the_whole_grade(answer: str, runner: SandboxCodeRunner) -> None:
    check = SUITE_STYLE.model_copy(update={"timeout_s": 2})
    started = time.monotonic()
    grade = grade_code(check, f"```python\n{answer}```", runner)
    assert not grade.passed and grade.detail.startswith("tests did not finish: timeout"), grade
    assert time.monotonic() - started < 15  # the kernel stopped it, not the host's grace


def test_the_tests_helpers_stay_the_checks_own(runner: SandboxCodeRunner) -> None:
    # HumanEval/38-style: the prelude defines a helper the tests use. A solution that
    # redefines the helper must not change what the tests compute with it.
    check = CodeTestsCheck(
        prelude=(
            'def encode(s):\n    return s[::-1]\n\n\ndef decode(s):\n    """Undo encode."""\n'
        ),
        tests="def check(candidate):\n    assert candidate(encode('abc')) == 'abc'\n",
        entry_point="decode",
        timeout_s=20,
    )
    assert grade_code(check, "    return s[::-1]\n", runner).passed
    cheat = "def encode(s):\n    return s\n\n\ndef decode(s):\n    return s\n"
    assert not grade_code(check, f"```python\n{cheat}```", runner).passed
