"""`agentlab chat` with piped input, and history trimming with a running summary."""

from __future__ import annotations

import json
from pathlib import Path

from langgraph.checkpoint.memory import InMemorySaver
from support import plan, step, write_cassette
from test_memory_threads import agentlab, planner_prompt, prompts

from agentlab import AgentConfig
from agentlab.memory.history import SUMMARY_ID
from agentlab.memory.settings import MemorySettings
from agentlab.runner import Runner
from agentlab.trace import MemoryTraceSink, Tracer


def test_chat_keeps_the_conversation_between_turns(tmp_path: Path) -> None:
    cassette = write_cassette(
        tmp_path / "c.jsonl",
        plan(step("s1", "calculator", expression="6*7"), answer="${s1}"),
        plan(answer="You asked about 6*7."),
    )
    record = tmp_path / "rec.jsonl"
    done = agentlab(
        tmp_path,
        "chat",
        "--thread",
        "c1",
        "--model",
        f"replay:{cassette}",
        "--record",
        str(record),
        stdin="What is 6*7?\n\nWhat did I ask?\n/exit\n",
    )
    assert done.returncode == 0, done.stderr
    assert "thread c1" in done.stdout
    assert "s1 ok calculator" in done.stdout  # steps shown as they go
    assert "answer: 42" in done.stdout and "answer: You asked about 6*7." in done.stdout
    assert "- human: What is 6*7?\n- ai: 42" in planner_prompt(record, 1)
    # The thread lives on: `agentlab run --thread c1` continues the same conversation.
    again = write_cassette(tmp_path / "again.jsonl", plan(answer="6*7, then what you asked."))
    record2 = tmp_path / "rec2.jsonl"
    done = agentlab(
        tmp_path,
        "run",
        "Summarise our chat",
        "--thread",
        "c1",
        "--model",
        f"replay:{again}",
        "--record",
        str(record2),
    )
    assert done.returncode == 0, done.stderr
    assert "- human: What did I ask?" in planner_prompt(record2)


def test_chat_ends_at_end_of_input(tmp_path: Path) -> None:
    cassette = write_cassette(tmp_path / "c.jsonl", plan(answer="hello"))
    done = agentlab(tmp_path, "chat", "--model", f"replay:{cassette}", stdin="hi\n")
    assert done.returncode == 0, done.stderr
    assert "answer: hello" in done.stdout


def test_long_history_is_trimmed_and_summarised(tmp_path: Path) -> None:
    long_answer = "x " * 120  # ~60 tokens per answer
    replies = []
    for turn in range(3):
        if turn == 2:
            replies.append("The user asked two questions; both answers were long runs of x.")
        replies.append(plan(answer=f"answer {turn}: {long_answer}"))
    record = tmp_path / "rec.jsonl"
    runner = Runner(
        AgentConfig(memory=False),
        model=f"replay:{write_cassette(tmp_path / 'c.jsonl', *replies)}",
        tools=["calculator"],
        trace_dir=Tracer(MemoryTraceSink()),
        record=record,
        checkpointer=InMemorySaver(),
        memory=MemorySettings(history_tokens=100),
    )
    for turn in range(3):
        result = runner.run(f"question {turn}", thread_id="long")
        assert result.status == "answered", result.status_detail
    calls = prompts(record)
    assert [c["node"] for c in calls] == ["planner", "planner", "recall", "planner"]
    summary_request = json.dumps(calls[2]["messages"])
    assert "SUMMARIZE" in summary_request and "question 0" in summary_request
    state = runner.graph.get_state({"configurable": {"thread_id": "long"}}).values
    messages = state["messages"]
    assert messages[0].id == SUMMARY_ID
    assert "two questions" in messages[0].content
    assert [m.content for m in messages[1:]][-1].startswith("answer 2")
    assert "question 0" not in [m.content for m in messages]
    # The planner of the third turn saw the summary.
    assert "two questions" in str(calls[3]["messages"])
    assert state["counters"].llm_calls == 2  # the summary, then one plan that answers
