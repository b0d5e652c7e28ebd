"""The `direct` baseline on replayed cassettes: one reasoned answer, no tools."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from support import of_type, write_cassette

from agentlab import AgentConfig, Budgets, build_agent
from agentlab.baselines import DirectAnswer
from agentlab.events import FailureEvent, NodeStep, ToolCall
from agentlab.llm import ReplayChatModel
from agentlab.trace import MemoryTraceSink, Tracer


def reply(answer: str, reasoning: str = "12*7 = 84, plus 5 is 89") -> str:
    return json.dumps({"reasoning": reasoning, "answer": answer})


def run_direct(
    tmp_path: Path, *replies: str, **budgets: Any
) -> tuple[dict[str, Any], list[dict[str, Any]], ReplayChatModel]:
    model = ReplayChatModel(path=str(write_cassette(tmp_path / "direct.jsonl", *replies)))
    sink = MemoryTraceSink()
    config = AgentConfig(architecture="direct", budgets=Budgets(**budgets))
    graph = build_agent(config, model=model, tools=["calculator"], trace=Tracer(sink))
    state = graph.invoke({"task": "A box holds 12 eggs: 7 boxes plus 5 loose eggs?"})
    return state, sink.events, model


def test_answers_in_one_call_without_tools(tmp_path: Path) -> None:
    state, events, model = run_direct(tmp_path, reply("89"))
    assert (state["status"], state["answer"]) == ("answered", "89")
    assert state["counters"].llm_calls == 1 and state["counters"].tool_calls == 0
    header = events[0]
    # Built without a variant name, a baseline is not reported as "full".
    assert header.variant == "direct" and header.tools == []
    assert of_type(events, ToolCall) == []
    assert [e.node for e in of_type(events, NodeStep)] == ["begin", "agent", "finish"]
    assert events[-1].type == "footer" and events[-1].answer == "89"
    # The prompt names no tool; reasoning is asked for before the answer.
    prompt = "\n".join(str(m.content) for m in model.calls[0])
    assert "calculator" not in prompt
    assert list(DirectAnswer.model_json_schema()["properties"]) == ["reasoning", "answer"]


def test_malformed_reply_is_retried(tmp_path: Path) -> None:
    state, events, _ = run_direct(tmp_path, "89", reply("89"))
    assert state["answer"] == "89" and state["counters"].llm_calls == 2
    assert [e.category for e in of_type(events, FailureEvent)] == ["planning.malformed_output"]


def test_empty_answer_is_no_answer(tmp_path: Path) -> None:
    state, events, _ = run_direct(tmp_path, reply("  "))
    assert state["status"] == "no_answer"
    assert [(e.category, e.node) for e in of_type(events, FailureEvent)] == [
        ("goal.no_answer", "finish")
    ]


def test_budget_stops_retries(tmp_path: Path) -> None:
    state, events, _ = run_direct(tmp_path, "no", max_llm_calls=1)
    assert state["status"] == "budget_exhausted"
    assert [e.category for e in of_type(events, FailureEvent)] == [
        "planning.malformed_output",
        "efficiency.budget_exhausted",
    ]
