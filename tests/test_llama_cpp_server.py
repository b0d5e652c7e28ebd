"""`openai:` against a real llama-cpp-python OpenAI-compatible server on loopback, serving the
small plumbing model: the structured mode is negotiated with the server as a user meets it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import agentlab, of_type

from agentlab import AgentConfig, Budgets
from agentlab.events import ModelCall, PlanMade, StructuredOutputChosen
from agentlab.failures import FailureEvent
from agentlab.llm.weights import gguf_path, model_spec
from agentlab.runner import Runner
from agentlab.trace import read_trace

pytestmark = [pytest.mark.local_model, pytest.mark.slow]

DEMO_TASK = (
    "A warehouse has 17 boxes with 23 bottles each, and 4 loose bottles. "
    "How many bottles are there in total?"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m llama_cpp.server` with smollm2-135m on a free loopback port; its base URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(gguf_path(model_spec("smollm2-135m"))),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--n_ctx",
                "4096",
                "--n_threads",
                str(os.cpu_count() or 1),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/models", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"llama.cpp server did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def run_demo(base: str, tmp_path: Path, *extra: str) -> tuple[dict[str, object], list[dict]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AGENTLAB_MODEL"))}
    env |= {
        "OPENAI_BASE_URL": base,
        "AGENTLAB_HOME": str(tmp_path / "home"),
        "HF_HUB_OFFLINE": "1",
    }
    done = agentlab(
        "run", "--agent", "math", DEMO_TASK, "--json", *extra, cwd=tmp_path, env=env, timeout=900
    )
    assert done.stdout, done.stderr
    result = json.loads(done.stdout)
    return result, read_trace(str(result["trace"]))


def test_the_demo_runs_through_openai_against_llama_cpps_server(
    llama_server: str, tmp_path: Path
) -> None:
    result, events = run_demo(llama_server, tmp_path, "--model", "openai:smollm2")
    # The server refuses json_schema ("Input should be 'text' or 'json_object'"); that is a
    # negotiation, not a model failure: json_object with the schema field follows at once.
    negotiated = of_type(events, StructuredOutputChosen)
    assert [e.mode for e in negotiated] == ["json_object"], negotiated
    assert negotiated[0].rejected[0]["mode"] == "json_schema"
    assert "json_object" in negotiated[0].rejected[0]["error"]
    assert "model.api_error" not in [e.category for e in of_type(events, FailureEvent)]
    calls = of_type(events, ModelCall)
    assert calls and {c.structured for c in calls} == {"json_object"}
    assert not calls[0].tokens_estimated  # the server's own usage
    assert all(c.tokens_out <= 512 for c in calls)  # the cap reached the server
    # The planner's reply parsed into a plan (the server's grammar kept the JSON valid), or
    # the 135M model filled its room and the cut-off reply is recorded as truncation
    # (openai's LengthFinishReasonError is a truncated reply, not a backend failure).
    plans = [e for e in of_type(events, PlanMade) if e.node == "planner"]
    truncated = [e for e in of_type(events, FailureEvent) if e.category == "model.output_truncated"]
    assert plans or truncated, [c.reply for c in calls]
    assert result["status"] in ("answered", "no_answer", "budget_exhausted")


def test_a_forced_prompt_mode_sends_no_response_format_and_stays_capped(
    llama_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", llama_server)
    config = AgentConfig(
        tools=("calculator",),
        memory=False,
        max_output_tokens=48,
        budgets=Budgets(max_llm_calls=2, max_output_retries=1),
    )
    runner = Runner(config, model="openai:smollm2?structured=prompt", trace_dir=tmp_path)
    result = runner.run(DEMO_TASK)
    events = read_trace(result.trace_path or "")
    assert events[0].structured_output == "prompt"
    calls = of_type(events, ModelCall)
    assert len(calls) == 2 and {c.structured for c in calls} == {"prompt"}
    # Capped (sent as max_tokens, which this server reads): no reply runs to the context's end.
    assert all(0 < c.tokens_out <= 48 for c in calls)
    assert "JSON schema" in calls[0].messages[-1]["content"]
    assert "model.api_error" not in [e.category for e in of_type(events, FailureEvent)]
