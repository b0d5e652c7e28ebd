"""`openai:` against an OpenAI-compatible HTTP server on loopback (no client mocking): faults."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from openai_fake import FakeOpenAI
from support import finish, plan, step

from agentlab import AgentConfig
from agentlab.runner import Runner
from agentlab.trace import read_trace

SECRET = "sk-test-abcdefghijklmnopqrstuvwxyz123456"


GOOD_PLAN = plan(step("s1", "calculator", expression="17*23+4"), answer="${s1}")


def runner(
    fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, retries: int = 2
) -> Runner:
    monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    config = AgentConfig(model_max_retries=retries, tools=("calculator",))
    return Runner(config, model="openai:test-model", trace_dir=tmp_path / "runs")


def test_cli_drives_openai_with_json_schema_response_format(serve: Any, tmp_path: Path) -> None:
    fake = serve([(200, GOOD_PLAN)])
    env = {
        "PATH": "/usr/bin:/bin",
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_KEY": SECRET,
        "AGENTLAB_HOME": str(tmp_path / "home"),
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "agentlab",
            "run",
            "What is 17*23+4?",
            "--model",
            "openai:test-model",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["answer"] == "395"
    # The plan's template answers: one request, no reflection.
    [plan_request] = fake.requests
    assert plan_request["model"] == "test-model"
    assert plan_request["response_format"]["type"] == "json_schema"
    assert 512 in (plan_request.get("max_tokens"), plan_request.get("max_completion_tokens"))
    assert plan_request["response_format"]["json_schema"]["name"] == "Plan"
    plan_schema = plan_request["response_format"]["json_schema"]["schema"]
    # The step budget is part of the schema, so constrained decoding cannot run away.
    assert plan_schema["properties"]["steps"]["maxItems"] == 8
    variants = plan_schema["properties"]["steps"]["items"]["anyOf"]
    by_tool = {v["properties"]["tool"]["const"]: v for v in variants}
    assert by_tool["calculator"]["properties"]["args"]["required"] == ["expression"]
    assert by_tool["calculator"]["properties"]["args"]["additionalProperties"] is False
    assert fake.headers[0]["authorization"] == f"Bearer {SECRET}"
    # Real token counts from the server's usage, and no secret in the trace.
    trace_text = Path(result["trace"]).read_text()
    assert SECRET not in trace_text
    assert result["counters"]["tokens_in"] == 100  # the one request's usage


def test_rate_limit_is_retried(serve: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = serve([(429, ""), (200, GOOD_PLAN)])
    result = runner(fake, monkeypatch, tmp_path).run("What is 17*23+4?")
    assert result.status == "answered" and result.answer == "395"
    assert len(fake.requests) == 2
    assert result.failures == []


def test_server_error_forever_is_model_api_error(
    serve: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = serve([(500, "")])
    result = runner(fake, monkeypatch, tmp_path, retries=2).run("What is 17*23+4?")
    assert result.status == "error"
    assert result.exit_code == 1
    assert len(fake.requests) == 3  # the first try and two retries
    assert [f.category for f in result.failures] == ["model.api_error"]
    assert "HTTP 500" in result.status_detail
    events = read_trace(result.trace_path or "")
    assert events[-1].type == "footer" and events[-1].status == "error"
    assert SECRET not in Path(result.trace_path or "").read_text()


def test_context_overflow_is_its_own_category(
    serve: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = serve([(400, "")])
    result = runner(fake, monkeypatch, tmp_path).run("What is 17*23+4?")
    assert result.status == "error"
    assert [f.category for f in result.failures] == ["model.context_overflow"]
    assert len(fake.requests) == 1  # a 400 is not retried


DEEP = '{"steps": [{"id": "s1", "tool": "calculator", "args": {"a": ' + "[" * 100_000
"""A reply nested 100k levels deep (what a hostile or broken server could send)."""


def test_a_deeply_nested_reply_is_malformed_output(
    serve: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = serve([(200, DEEP + "]" * 100_000 + "}}]}"), (200, GOOD_PLAN), (200, finish("395"))])
    result = runner(fake, monkeypatch, tmp_path).run("What is 17*23+4?")
    assert result.status == "answered" and result.answer == "395"
    assert [(f.category.value, f.node) for f in result.failures] == [
        ("planning.malformed_output", "planner")
    ]
    assert "nested more than 64 levels" in result.failures[0].detail
