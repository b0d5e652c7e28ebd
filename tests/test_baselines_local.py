"""The baselines on the embedded model, for real: the react action schema decodes under
llama.cpp's grammar and the loop answers; the bare model answers in one call."""

from __future__ import annotations

import pytest
from support import of_type

from agentlab import AgentConfig, build_agent
from agentlab.events import FailureEvent, ModelCall, ToolCall
from agentlab.trace import MemoryTraceSink, Tracer

pytestmark = [pytest.mark.local_model, pytest.mark.slow]

MODEL = "local:qwen2.5-coder-1.5b"
TASK = "A shop receives 14 crates of oranges with 36 oranges in each crate. It sells 289 oranges. How many oranges are left?"


def test_react_calls_the_calculator_and_answers() -> None:
    sink = MemoryTraceSink()
    graph = build_agent(
        AgentConfig().with_variant("react"),
        model=MODEL,
        tools=["calculator", "search"],
        trace=Tracer(sink),
    )
    state = graph.invoke({"task": TASK})
    assert state["status"] == "answered" and "215" in (state["answer"] or "")
    calls = of_type(sink.events, ToolCall)
    assert calls and all(c.tool in ("calculator", "search") for c in calls)
    replies = of_type(sink.events, ModelCall)
    assert all(not r.tokens_estimated for r in replies)
    categories = {f.category for f in of_type(sink.events, FailureEvent)}
    assert "planning.malformed_output" not in categories
    assert "planning.invalid_tool" not in categories  # the grammar lists the tools


def test_direct_answers_in_one_call_without_tools() -> None:
    sink = MemoryTraceSink()
    graph = build_agent(AgentConfig(architecture="direct"), model=MODEL, trace=Tracer(sink))
    state = graph.invoke({"task": TASK})
    assert state["status"] == "answered" and state["answer"]
    assert state["counters"].llm_calls == 1
    assert of_type(sink.events, ToolCall) == []
