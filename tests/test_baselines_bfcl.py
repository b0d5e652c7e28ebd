"""BFCL graded for all three architectures: `agentlab eval bfcl:simple_python` under `full`,
`react` and `direct`, replayed from hand-written cassettes (right and wrong calls).

Each architecture's calls reach the grader as typed `plan` events: the planner's plan
(`source="plan"`), the `react` loop's tool calls (`source="action"`, all of a run's
actions form its plan), the `direct` answer's calls written as text (`source="answer"`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from support import agentlab, of_type, write_cassette

from agentlab.events import Footer, Header, PlanMade, TraceEvent
from agentlab.failures import FailureEvent
from agentlab.trace import read_trace

VARIANTS = ("full", "react", "direct")
TRIANGLE = ("calculate_triangle_area", {"base": 10, "height": 5})  # simple_python_0
FACTORIAL = ("math.factorial", {"number": 5})  # simple_python_1
HYPOT = ("math.hypot", {"x": 4, "y": 5})  # simple_python_2


def plan(*calls: tuple[str, dict[str, Any]]) -> str:
    steps = [{"id": f"s{i}", "tool": t, "args": a, "why": ""} for i, (t, a) in enumerate(calls, 1)]
    return json.dumps({"steps": steps})


def finish(answer: str) -> str:
    """A plan of stub calls writes no answer, so the reflector reads one off the results."""
    return json.dumps({"answer": answer, "decision": "finish", "critique": ""})


def action(tool: str, args: dict[str, Any]) -> str:
    return json.dumps({"thought": "call it", "action": {"tool": tool, "args": args}})


def final(answer: str) -> str:
    return action("final_answer", {"answer": answer})


def direct(calls: str) -> str:
    return json.dumps({"reasoning": "the function that does it", "answer": calls})


CASSETTES: dict[str, dict[str, list[str]]] = {
    "full": {
        "simple_python_0": [plan(TRIANGLE), finish("25")],
        # A wrong value: the plan is valid and runs, and grading finds it.
        "simple_python_1": [plan(("math.factorial", {"number": 6})), finish("720")],
        "simple_python_2": [plan(HYPOT), finish("6.4")],
    },
    "react": {
        "simple_python_0": [action(*TRIANGLE), final("25")],
        # An argument the function does not take.
        "simple_python_1": [action("math.factorial", {"num": 5}), final("120")],
        # The right call made twice: two calls where one was asked for.
        "simple_python_2": [action(*HYPOT), action(*HYPOT), final("6.4")],
    },
    "direct": {
        "simple_python_0": [direct("[calculate_triangle_area(base=10, height=5)]")],
        # A function that was not declared.
        "simple_python_1": [direct("[factorial(number=5)]")],
        # Positional arguments do not parse: retried, then right.
        "simple_python_2": [direct("math.hypot(4, 5)"), direct("[math.hypot(x=4, y=5)]")],
    },
}

EXPECTED: dict[tuple[str, str], tuple[str, set[str]]] = {
    ("full", "simple_python_0"): ("pass", set()),
    ("full", "simple_python_1"): (
        "fail",
        {"planning.wrong_argument_values", "goal.wrong_answer"},
    ),
    ("full", "simple_python_2"): ("pass", set()),
    ("react", "simple_python_0"): ("pass", set()),
    ("react", "simple_python_1"): ("fail", {"planning.invalid_arguments", "goal.wrong_answer"}),
    ("react", "simple_python_2"): ("fail", {"goal.wrong_answer"}),
    ("direct", "simple_python_0"): ("pass", set()),
    ("direct", "simple_python_1"): ("fail", {"planning.invalid_tool", "goal.wrong_answer"}),
    ("direct", "simple_python_2"): ("pass", set()),
}
"""Verdict and the failures grading found (node `eval`), per (variant, task)."""


def evaluate(tmp_path: Path) -> dict[tuple[str, str], list[TraceEvent]]:
    cassettes = tmp_path / "cassettes"
    for variant, tasks in CASSETTES.items():
        (cassettes / variant).mkdir(parents=True)
        for task, replies in tasks.items():
            write_cassette(cassettes / variant / f"{task}.jsonl", *replies)
    out = tmp_path / "out"
    done = agentlab(
        "eval", "bfcl:simple_python", "--limit", "3",
        *(a for v in VARIANTS for a in ("-v", v)),
        "--model", f"replay:{cassettes}", "--out", str(out), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    runs: dict[tuple[str, str], list[TraceEvent]] = {}
    for path in out.glob("*.jsonl"):
        events = read_trace(path)
        header = events[0]
        assert isinstance(header, Header) and header.task_id is not None
        runs[(header.variant, header.task_id)] = events
    return runs


def test_bfcl_is_graded_for_every_architecture(tmp_path: Path) -> None:
    runs = evaluate(tmp_path)
    graded = {}
    for key, events in runs.items():
        footer = events[-1]
        assert isinstance(footer, Footer) and footer.verdict is not None, key
        found = {str(f.category) for f in of_type(events, FailureEvent) if f.node == "eval"}
        graded[key] = (footer.verdict.outcome, found)
    assert graded == EXPECTED

    # Each architecture's calls reached the grader as its kind of plan.
    sources = {
        key: [(p.source, [(s.tool, s.args) for s in p.plan.steps]) for p in of_type(e, PlanMade)]
        for key, e in runs.items()
    }
    assert sources[("full", "simple_python_0")] == [("plan", [TRIANGLE])]
    assert sources[("react", "simple_python_1")] == [("action", [("math.factorial", {"num": 5})])]
    assert sources[("react", "simple_python_2")] == [("action", [HYPOT]), ("action", [HYPOT])]
    assert sources[("direct", "simple_python_1")] == [("answer", [("factorial", {"number": 5})])]
    assert sources[("direct", "simple_python_2")] == [("answer", [HYPOT])]

    # The direct baseline is told the declared functions (and nothing else to run).
    direct_header = runs[("direct", "simple_python_0")][0]
    assert isinstance(direct_header, Header) and direct_header.tools == ["calculate_triangle_area"]
    retried = of_type(runs[("direct", "simple_python_2")], FailureEvent)
    assert [str(f.category) for f in retried if f.node == "agent"] == ["planning.malformed_output"]
    assert "name every argument" in retried[0].detail
