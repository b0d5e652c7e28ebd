"""Chat-style input: `{"messages": [...]}` drives the graph as `{"task": ...}` does, the last
human message no run has started from being the task, and the answer comes back as an AI
message beside agentlab's own fields."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from support import of_type, plan, step, write_cassette

from agentlab import AgentConfig, ConfigError, build_agent
from agentlab.events import Header, ModelCall
from agentlab.graph import AgentGraph
from agentlab.trace import MemoryTraceSink


def _agent(tmp_path: Path, *answers: str) -> tuple[AgentGraph, MemoryTraceSink]:
    replies = [plan(step("s1", "calculator", expression=a), answer="${s1}") for a in answers]
    cassette = write_cassette(tmp_path / "cassette.jsonl", *replies)
    sink = MemoryTraceSink()
    graph = build_agent(
        AgentConfig(memory=False),
        model=f"replay:{cassette}",
        tools=["calculator"],
        trace=sink,
        checkpointer=InMemorySaver(),
    )
    return graph, sink


def test_turns_by_messages_and_by_task_alternate_on_one_thread(tmp_path: Path) -> None:
    graph, sink = _agent(tmp_path, "17*23", "391+4", "2*3")
    thread = {"configurable": {"thread_id": "t"}}
    state = graph.invoke({"messages": [{"role": "user", "content": "What is 17*23?"}]}, thread)
    assert (state["task"], state["answer"]) == ("What is 17*23?", "391")
    state = graph.invoke({"task": "Add 4 to that."}, thread)
    assert (state["task"], state["answer"]) == ("Add 4 to that.", "395")
    # Content as blocks (as chat front-ends send it); the previous task is not run again.
    blocks = [{"type": "text", "text": "Now 2*3?"}]
    state = graph.invoke({"messages": [HumanMessage(content=blocks)]}, thread)  # type: ignore[arg-type]
    assert (state["task"], state["answer"]) == ("Now 2*3?", "6")

    kinds = [(type(m), m.text) for m in state["messages"]]
    assert kinds == [
        (HumanMessage, "What is 17*23?"),
        (AIMessage, "391"),
        (HumanMessage, "Add 4 to that."),
        (AIMessage, "395"),
        (HumanMessage, "Now 2*3?"),
        (AIMessage, "6"),
    ]
    assert [h.task for h in of_type(sink.events, Header)] == [
        "What is 17*23?",
        "Add 4 to that.",
        "Now 2*3?",
    ]
    # The third planner saw the earlier turns, each once, and not its own task among them.
    prompt = str(of_type(sink.events, ModelCall)[2].messages[-1]["content"])
    assert prompt.count("human: Add 4 to that.") == 1
    assert "human: Now 2*3?" not in prompt


def test_a_fresh_thread_given_both_takes_the_task(tmp_path: Path) -> None:
    graph, _ = _agent(tmp_path, "6*7")
    history = [HumanMessage(content="hello"), AIMessage(content="hi")]
    thread = {"configurable": {"thread_id": "fresh"}}
    state = graph.invoke({"task": "What is 6*7?", "messages": history}, thread)  # type: ignore[typeddict-item]
    assert (state["task"], state["answer"]) == ("What is 6*7?", "42")
    assert [m.text for m in state["messages"]] == ["hello", "hi", "What is 6*7?", "42"]


def test_empty_chat_input_is_a_clear_error(tmp_path: Path) -> None:
    graph, _ = _agent(tmp_path)
    with pytest.raises(ConfigError, match="messages"):
        graph.invoke(
            {"messages": [{"role": "user", "content": "  "}]}, {"configurable": {"thread_id": "t"}}
        )
