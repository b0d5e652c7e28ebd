"""Suite files: the format, shorthand, shipped suites, and errors that say what is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentlab.errors import ConfigError
from agentlab.eval import load_suite, shipped_suites
from agentlab.eval.sources import open_suite
from agentlab.eval.suite import CodeTestsCheck, ExactCheck, NumericCheck, RegexCheck


def write(path: Path, *tasks: dict[str, object]) -> Path:
    path.write_text("".join(json.dumps(t) + "\n" for t in tasks), encoding="utf-8")
    return path


def test_shipped_suites_load() -> None:
    assert set(shipped_suites()) == {"math", "code", "search", "multitool", "control-flow"}
    math = load_suite("math")
    assert len(math.tasks) == 25
    assert len({t.id for t in math.tasks}) == 25
    assert len(load_suite("multitool").tasks) == 25
    assert all(isinstance(t.check, NumericCheck) and t.tools == ("calculator",) for t in math.tasks)
    assert all(t.ref_steps for t in math.tasks)
    code = load_suite("code")
    assert len(code.tasks) == 10
    assert all(isinstance(t.check, CodeTestsCheck) and t.tools == ("python",) for t in code.tasks)


def test_answer_shorthand_is_numeric_or_exact(tmp_path: Path) -> None:
    suite = load_suite(
        write(
            tmp_path / "s.jsonl",
            {"id": "a", "prompt": "p", "answer": "1,307"},
            {"id": "b", "prompt": "p", "answer": "Paris"},
            {"id": "c", "prompt": "p", "check": {"kind": "regex", "pattern": "fox"}},
        )
    )
    a, b, c = suite.tasks
    assert a.check == NumericCheck(value=1307)
    assert b.check == ExactCheck(value="Paris")
    assert isinstance(c.check, RegexCheck)
    assert suite.name == "s"


def test_a_line_separator_inside_a_prompt_does_not_cut_the_task(tmp_path: Path) -> None:
    """JSON leaves U+2028 and U+2029 unescaped; only a newline ends a suite line."""
    path = tmp_path / "s.jsonl"
    prompt = "first\u2028second\u2029third\x85fourth"
    path.write_text(
        json.dumps({"id": "a", "prompt": prompt, "answer": "1"}, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    (task,) = load_suite(path).tasks
    assert task.prompt == prompt


def test_yaml_suite(tmp_path: Path) -> None:
    path = tmp_path / "qa.yaml"
    path.write_text(
        "tasks:\n  - id: q1\n    prompt: Capital of France?\n"
        "    check: {kind: one_of, values: [Paris, paris city]}\n",
        encoding="utf-8",
    )
    assert load_suite(path).tasks[0].check.kind == "one_of"


@pytest.mark.parametrize(
    ("tasks", "message"),
    [
        ([{"id": "a", "prompt": "p", "answer": "1"}] * 2, "duplicate task ids: a"),
        ([{"id": "a", "prompt": "p", "check": {"kind": "nope"}}], "s.jsonl:1: invalid task"),
        (
            [{"id": "a", "prompt": "p", "check": {"kind": "regex", "pattern": "("}}],
            "does not compile",
        ),
        (
            [{"id": "a", "prompt": "p", "answer": "1", "check": {"kind": "exact", "value": "1"}}],
            "not both",
        ),
        ([], "holds no tasks"),
    ],
)
def test_bad_suites_are_refused_with_the_reason(
    tmp_path: Path, tasks: list[dict[str, object]], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_suite(write(tmp_path / "s.jsonl", *tasks))


def test_unknown_suite_names_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"shipped .*math"):
        open_suite("maths")
    with pytest.raises(ConfigError, match="adapters: humaneval"):
        open_suite("nope:thing")
