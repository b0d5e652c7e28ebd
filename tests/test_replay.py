"""Replay cassettes are checked line by line: a bad line is a clear error naming it, and token
counts cannot be negative, fractional or absurd (they feed the token budget)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import agentlab, finish, plan, step

from agentlab import AgentConfig, Budgets
from agentlab.errors import ConfigError
from agentlab.llm import ReplayChatModel, load_cassette
from agentlab.runner import Runner

GOOD = json.dumps({"reply": "ok", "tokens_in": 10, "tokens_out": 2})


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('{"reply": "x", "tokens_in": -5, "tokens_out": 1}', "tokens_in: Input should be greater"),
        (
            '{"reply": "x", "tokens_in": 1, "tokens_out": 2.5}',
            "tokens_out: Input should be a valid",
        ),
        ('{"reply": "x", "tokens_in": "7", "tokens_out": 1}', "tokens_in: Input should be a valid"),
        (
            '{"reply": "x", "tokens_in": true, "tokens_out": 1}',
            "tokens_in: Input should be a valid",
        ),
        (
            '{"reply": "x", "tokens_in": 1e30, "tokens_out": 1}',
            "tokens_in: Input should be a valid",
        ),
        ('{"reply": "x", "tokens_in": 99999999999, "tokens_out": 1}', "less than or equal to 1000"),
        ('{"reply": 5}', "reply: Input should be a valid string"),
        ('{"answer": "x"}', 'a "reply" string; reply is missing'),
        ("[1, 2]", 'not a JSON object with a "reply" string'),
        ("{not json", 'not a JSON object with a "reply" string'),
    ],
)
def test_a_bad_line_is_named_with_its_problem(tmp_path: Path, line: str, problem: str) -> None:
    cassette = tmp_path / "c.jsonl"
    cassette.write_text(f"{GOOD}\n\n{line}\n")
    with pytest.raises(ConfigError) as info:
        load_cassette(cassette)
    assert str(info.value).startswith(f"{cassette}:3: ")
    assert problem in str(info.value)


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    cassette = tmp_path / "c.jsonl"
    cassette.write_bytes(GOOD.encode() + b'\n{"reply": "caf\xe9"}\n')
    with pytest.raises(ConfigError, match=r"c\.jsonl:2: not UTF-8 \(byte 15 of the line\)"):
        load_cassette(cassette)


def test_recorded_fields_are_kept(tmp_path: Path) -> None:
    cassette = tmp_path / "c.jsonl"
    cassette.write_text(json.dumps({"reply": "x", "node": "planner", "latency_s": 0.5}) + "\n")
    [entry] = load_cassette(cassette)
    assert entry.reply == "x" and entry.tokens_in is None
    assert entry.model_extra == {"node": "planner", "latency_s": 0.5}


def test_token_counts_count_against_the_budget(tmp_path: Path) -> None:
    cassette = tmp_path / "c.jsonl"
    lines = [
        {
            "reply": plan(step("s1", "calculator", expression="1+1")),
            "tokens_in": 900,
            "tokens_out": 50,
        },
        {"reply": finish("2"), "tokens_in": 900, "tokens_out": 50},
    ]
    cassette.write_text("".join(json.dumps(line) + "\n" for line in lines))
    config = AgentConfig(memory=False, budgets=Budgets(max_tokens=900))
    result = Runner(config, model=ReplayChatModel(path=str(cassette))).run("1+1?")
    assert result.status == "budget_exhausted"
    assert result.counters.tokens == 950


def test_the_cli_reports_a_bad_cassette_as_a_usage_error(tmp_path: Path) -> None:
    negative = tmp_path / "negative.jsonl"
    negative.write_text('{"reply": "x", "tokens_in": -1000000, "tokens_out": 0}\n')
    done = agentlab("run", "1+1?", "--model", f"replay:{negative}", cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "negative.jsonl:1: tokens_in: Input should be greater than or equal to 0" in done.stderr
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"reply": "\xff"}\n')
    done = agentlab("run", "1+1?", "--model", f"replay:{latin}", cwd=tmp_path)
    assert done.returncode == 2 and "latin.jsonl:1: not UTF-8" in done.stderr
    assert not list((tmp_path / "agentlab-home").rglob("*.jsonl"))
