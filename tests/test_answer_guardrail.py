"""The output guardrail: an answer outside the declared format goes back to the reflector once,
then the run ends without an answer. Replay cassettes script the model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from support import failures, finish, only_trace, plan, step, write_cassette

from agentlab.config import AgentConfig
from agentlab.runner import Runner, RunResult

PLAN = plan(step("s1", "calculator", expression="6*7"), answer="about ${s1}")


def run(tmp_path: Path, *replies: str, **config: Any) -> RunResult:
    cassette = write_cassette(tmp_path / "c.jsonl", PLAN, *replies)
    settings = AgentConfig(memory=False, **config)
    with Runner(
        settings, model=f"replay:{cassette}", tools=["calculator"], trace_dir=tmp_path / "runs"
    ) as runner:
        return runner.run("What is 6*7? Answer with the number only.")


def test_a_wrong_format_is_retried_through_the_reflector(tmp_path: Path) -> None:
    result = run(tmp_path, finish("42"), answer_format=r"\d+")
    assert (result.status, result.answer) == ("answered", "42")
    assert ("guardrail.output_invalid", "finalizer") in failures(only_trace(tmp_path / "runs"))


def test_a_second_miss_ends_without_an_answer(tmp_path: Path) -> None:
    result = run(tmp_path, finish("forty-two"), answer_format=r"\d+")
    assert result.status == "no_answer" and result.answer is None
    found = failures(only_trace(tmp_path / "runs"))
    assert found.count(("guardrail.output_invalid", "finalizer")) == 2
    assert ("goal.no_answer", "finalizer") in found


def test_a_schema_gives_a_structured_answer(tmp_path: Path) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    result = run(tmp_path, finish('{"n": 42}'), answer_schema=schema)
    assert result.status == "answered" and result.structured == {"n": 42}


def test_without_a_declared_format_nothing_is_checked(tmp_path: Path) -> None:
    result = run(tmp_path)
    assert (result.status, result.answer) == ("answered", "about 42")


@pytest.mark.parametrize(
    "fields",
    [{"answer_format": "(unclosed"}, {"answer_schema": {"type": "no-such-type"}}],
)
def test_a_bad_declaration_is_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        AgentConfig(**fields)
