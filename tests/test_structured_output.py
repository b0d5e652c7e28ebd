"""Structured output that degrades gracefully: modes negotiated with OpenAI-compatible servers
(loopback fakes that refuse formats as real servers do), forced modes, wrapped models."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from openai_fake import TEXT_ONLY_REFUSAL, FakeOpenAI
from pydantic import BaseModel, ConfigDict
from support import finish, of_type, plan, step, write_cassette

from agentlab import AgentConfig, Plan
from agentlab.errors import ConfigError
from agentlab.events import ModelCall, PlanMade, StructuredOutputChosen
from agentlab.llm.replay import ReplayChatModel
from agentlab.llm.spec import resolve_model
from agentlab.llm.structured import (
    StructuredMode,
    StructuredOutput,
    json_schema_response_format,
)
from agentlab.runner import Runner
from agentlab.trace import read_trace

GOOD_PLAN = plan(step("s1", "calculator", expression="17*23+4"), answer="${s1}")
REPLAN_PLAN = plan(step("s1", "calculator", expression="17*23+4"))  # no answer yet: plan again
TWO_ROUNDS = {"reflection": "never"}
"""Without a reflector a plan without an answer goes back to the planner: two planning rounds."""
TASK = "What is 17*23+4?"


def runner(
    fake: FakeOpenAI,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    *,
    retries: int = 2,
    model: str = "openai:test-model",
    **config: Any,
) -> Runner:
    monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    agent = AgentConfig(model_max_retries=retries, tools=("calculator",), **config)
    return Runner(agent, model=model, trace_dir=tmp_path / "runs")


def last_user_text(request: dict[str, Any]) -> str:
    return str(request["messages"][-1]["content"])


def test_llama_cpp_refusal_selects_json_object_without_spending_retries(
    serve: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = serve([(200, REPLAN_PLAN), (200, GOOD_PLAN)], accepts=("json_object", "text"))
    result = runner(fake, monkeypatch, tmp_path, retries=2, **TWO_ROUNDS).run(TASK)
    assert result.status == "answered" and result.answer == "395"
    assert result.failures == []
    # One refused json_schema request (not retried, though 2 retries were allowed), then
    # json_object for the plan and, remembered, for the next planning round.
    assert fake.formats() == ["json_schema", "json_object", "json_object"]
    plan_request = fake.requests[1]
    assert plan_request["max_tokens"] == 512
    assert plan_request["response_format"]["schema"]["title"] == "Plan"
    assert '"title": "Plan"' in last_user_text(plan_request)  # the schema in the prompt too
    events = read_trace(result.trace_path or "")
    negotiated = of_type(events, StructuredOutputChosen)
    assert [e.mode for e in negotiated] == ["json_object"]
    assert negotiated[0].rejected[0]["mode"] == "json_schema"
    assert "Input should be 'text' or 'json_object'" in negotiated[0].rejected[0]["error"]
    calls = of_type(events, ModelCall)
    assert [c.structured for c in calls] == ["json_object", "json_object"]


def test_the_negotiated_mode_is_remembered_for_the_process_and_in_the_header(
    serve: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = serve(
        [(200, GOOD_PLAN), (200, GOOD_PLAN)],
        accepts=("json_object", "text"),
    )
    first = runner(fake, monkeypatch, tmp_path / "a").run(TASK)
    second = runner(fake, monkeypatch, tmp_path / "b").run(TASK)
    assert first.answer == second.answer == "395"
    assert fake.formats() == ["json_schema", *["json_object"] * 2]
    first_header = read_trace(first.trace_path or "")[0]
    second_events = read_trace(second.trace_path or "")
    assert first_header.structured_output == "auto"  # found during that run
    assert second_events[0].structured_output == "json_object"
    assert of_type(second_events, StructuredOutputChosen) == []


def test_a_text_only_server_still_gets_a_parsed_plan_through_the_prompt(
    serve: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = serve(
        [(200, f"Here is the plan:\n```json\n{GOOD_PLAN}\n```")],
        accepts=("text",),
        refusal=TEXT_ONLY_REFUSAL,
    )
    result = runner(fake, monkeypatch, tmp_path).run(TASK)
    assert result.status == "answered" and result.answer == "395"
    assert fake.formats() == ["json_schema", "json_object", "text"]
    prompt_request = fake.requests[2]
    # Capped in prompt mode too: a small model must not write until its context is full.
    # As max_tokens as well: llama-cpp-python's server does not read max_completion_tokens.
    assert prompt_request["max_tokens"] == prompt_request["max_completion_tokens"] == 512
    assert "Reply with only a JSON object that matches this JSON schema" in last_user_text(
        prompt_request
    )
    events = read_trace(result.trace_path or "")
    assert [e.mode for e in of_type(events, StructuredOutputChosen)] == ["prompt"]
    assert [e.node for e in of_type(events, PlanMade)] == ["planner"]


def test_a_real_server_error_after_a_refusal_is_api_error_after_the_full_retries(
    serve: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = serve([(500, "")], accepts=("json_object", "text"))
    result = runner(fake, monkeypatch, tmp_path, retries=2).run(TASK)
    assert result.status == "error"
    assert [f.category for f in result.failures] == ["model.api_error"]
    assert "HTTP 500" in result.status_detail
    # The refusal cost nothing; the real 500 got the first try and both retries.
    assert fake.formats() == ["json_schema", "json_object", "json_object", "json_object"]
    assert StructuredOutput.for_model(resolve_model("openai:test-model").model).known is None


@pytest.mark.parametrize(
    ("spec", "config", "formats", "header"),
    [
        ("openai:m?structured=json_object", {}, ["json_object"], "json_object"),
        ("openai:m", {"structured_output": "prompt"}, ["text"], "prompt"),
        # The spec is more specific than the config: it wins.
        (
            "openai:m?structured=json_schema",
            {"structured_output": "prompt"},
            ["json_schema"],
            "json_schema",
        ),
    ],
)
def test_a_forced_mode_is_used_without_negotiating(
    serve: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    spec: str,
    config: dict[str, Any],
    formats: list[str],
    header: str,
) -> None:
    fake = serve([(200, GOOD_PLAN)])
    result = runner(fake, monkeypatch, tmp_path, model=spec, **config).run(TASK)
    assert result.answer == "395"
    assert fake.formats() == formats
    events = read_trace(result.trace_path or "")
    assert events[0].structured_output == header
    assert of_type(events, StructuredOutputChosen) == []


def test_a_forced_mode_the_server_refuses_is_an_api_error(
    serve: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = serve([(200, GOOD_PLAN)], accepts=("json_object", "text"))
    model = "openai:test-model?structured=json_schema"
    result = runner(fake, monkeypatch, tmp_path, model=model).run(TASK)
    assert [f.category for f in result.failures] == ["model.api_error"]
    assert fake.formats() == ["json_schema"]


@pytest.mark.parametrize("option", ["structured=xml", "temperature=1", "structured"])
def test_bad_spec_options_are_config_errors(option: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with pytest.raises(ConfigError, match="model spec"):
        resolve_model(f"openai:m?{option}")


class Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    answer: str
    confident: bool


def test_json_schema_is_strict_only_where_the_schema_allows_it() -> None:
    assert json_schema_response_format(Closed)["json_schema"]["strict"] is True
    # A plan's args are an open object: strict mode would refuse the schema.
    assert json_schema_response_format(Plan)["json_schema"]["strict"] is False


def test_with_retry_and_with_fallbacks_wrapped_models_run_as_models(
    serve: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cassette = write_cassette(tmp_path / "c.jsonl", GOOD_PLAN, finish("395"))
    retried = ReplayChatModel(path=str(cassette)).with_retry(stop_after_attempt=2)
    result = Runner(AgentConfig(tools=("calculator",)), model=retried, trace_dir=tmp_path).run(TASK)
    assert result.answer == "395"
    assert read_trace(result.trace_path or "")[0].model == ("object:RunnableRetry(ReplayChatModel)")

    # A primary that fails for good, then a fallback that answers.
    from langchain_openai import ChatOpenAI

    broken = serve([(500, "")])
    primary = ChatOpenAI(model="m", api_key="sk-test", base_url=broken.base_url, max_retries=0)
    backup = ReplayChatModel(path=str(write_cassette(tmp_path / "b.jsonl", REPLAN_PLAN, GOOD_PLAN)))
    fallbacks = primary.with_fallbacks([backup])
    config = AgentConfig(tools=("calculator",), **TWO_ROUNDS)
    result = Runner(config, model=fallbacks, trace_dir=tmp_path).run(TASK)
    assert result.answer == "395"
    assert len(broken.requests) == 2  # each planning round tried the primary first
    # Mixed backends get the mode every model takes: the schema in the prompt.
    assert StructuredOutput.for_model(fallbacks).known is StructuredMode.PROMPT
    assert "JSON schema" in str(backup.calls[0][-1].content)


def test_a_runnable_that_is_not_a_chat_model_is_refused() -> None:
    from langchain_core.runnables import RunnableLambda

    with pytest.raises(ConfigError, match="not a chat model"):
        resolve_model(RunnableLambda(lambda x: x))


def test_provider_specs_say_what_is_missing() -> None:
    with pytest.raises(ConfigError, match="unknown model backend 'nosuchprovider'"):
        resolve_model("nosuchprovider:some-model")
    with pytest.raises(ConfigError, match="pip install langchain-anthropic"):
        resolve_model("anthropic:claude-haiku-4-5")


class FakeOllama:
    """Ollama's /api/chat on loopback: streams one scripted reply per request, records them."""

    def __init__(self, replies: list[str]) -> None:
        self.replies = list(replies)
        self.requests: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append(body)
                text = fake.replies.pop(0)
                lines = [
                    {
                        "model": body["model"],
                        "created_at": "2026-01-01T00:00:00Z",
                        "message": {"role": "assistant", "content": text},
                        "done": False,
                    },
                    {
                        "model": body["model"],
                        "created_at": "2026-01-01T00:00:00Z",
                        "message": {"role": "assistant", "content": ""},
                        "done": True,
                        "done_reason": "stop",
                        "prompt_eval_count": 50,
                        "eval_count": 10,
                    },
                ]
                data = "".join(json.dumps(line) + "\n" for line in lines).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_a_langchain_provider_uses_its_own_structured_output(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = FakeOllama([REPLAN_PLAN, GOOD_PLAN])
    monkeypatch.setenv("OLLAMA_HOST", f"http://127.0.0.1:{fake.server.server_address[1]}")
    try:
        config = AgentConfig(tools=("calculator",), **TWO_ROUNDS)
        runner = Runner(config, model="ollama:qwen2.5", trace_dir=tmp_path)
        result = runner.run(TASK)
    finally:
        fake.server.shutdown()
    assert result.status == "answered" and result.answer == "395"
    plan_request, second_plan_request = fake.requests
    # Ollama's own structured output: the schema goes in its `format` field, not the prompt.
    assert plan_request["format"]["title"] == second_plan_request["format"]["title"] == "Plan"
    assert "JSON schema" not in json.dumps(plan_request["messages"])
    events = read_trace(result.trace_path or "")
    assert events[0].structured_output == "provider"
    calls = of_type(events, ModelCall)
    assert [c.structured for c in calls] == ["provider", "provider"]
    assert calls[0].tokens_in == 50 and not calls[0].tokens_estimated
