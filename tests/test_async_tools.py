"""Coroutine-only tools (`ainvoke` only, as every MCP tool) in the step engine.

They run on agentlab's background loop under the same deadline, cancellation
and failure categories as threaded tools, under the graph's `invoke` and
`ainvoke` alike; `ainvoke` never blocks the caller's event loop.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from langchain_core.tools import BaseTool, StructuredTool, ToolException
from support import of_type, plan, step, write_cassette

from agentlab import AgentConfig, build_agent
from agentlab.events import ToolCall
from agentlab.failures import FailureCategory as C
from agentlab.llm import ReplayChatModel
from agentlab.trace import MemoryTraceSink, Tracer

order: list[str] = []
cancelled: list[str] = []


async def _pause(name: str, seconds: float) -> str:
    order.append(f"start {name}")
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        cancelled.append(name)
        raise
    order.append(f"end {name}")
    return f"{name} done"


def async_tool(name: str, **fields: Any) -> StructuredTool:
    async def run(seconds: float) -> str:
        return await _pause(name, seconds)

    return StructuredTool.from_function(
        coroutine=run, name=name, description=f"Wait, then say {name} is done.", **fields
    )


def agent(tmp_path: Path, *replies: str, tools: list[Any]) -> tuple[Any, MemoryTraceSink]:
    sink = MemoryTraceSink()
    model = ReplayChatModel(path=str(write_cassette(tmp_path / "c.jsonl", *replies)))
    return build_agent(AgentConfig(), model=model, tools=tools, trace=Tracer(sink)), sink


TWO_STEPS = plan(step("s1", "left", seconds=0.3), step("s2", "right", seconds=0.3), answer="${s2}")


@pytest.fixture(autouse=True)
def _fresh() -> None:
    order.clear()
    cancelled.clear()


def test_a_coroutine_only_tool_cannot_be_invoked_synchronously() -> None:
    # The shape the executor must handle: langchain-core refuses `invoke` for it.
    with pytest.raises(NotImplementedError):
        async_tool("left").invoke({"seconds": 0})


def test_two_independent_async_steps_overlap_under_invoke(tmp_path: Path) -> None:
    graph, sink = agent(tmp_path, TWO_STEPS, tools=[async_tool("left"), async_tool("right")])
    state = graph.invoke({"task": "t"})
    assert state["answer"] == "right done" and state["failures"] == []
    # Both started before either ended: the second did not wait for the first.
    assert sorted(order[:2]) == ["start left", "start right"]
    assert sorted(order[2:]) == ["end left", "end right"]
    assert [c.status for c in of_type(sink.events, ToolCall)] == ["ok", "ok"]


async def test_two_independent_async_steps_overlap_under_ainvoke(tmp_path: Path) -> None:
    graph, _ = agent(tmp_path, TWO_STEPS, tools=[async_tool("left"), async_tool("right")])
    state = await graph.ainvoke({"task": "t"})
    assert state["answer"] == "right done" and state["failures"] == []
    assert sorted(order[:2]) == ["start left", "start right"]


def test_an_async_tool_past_its_timeout_is_cancelled_and_recorded(tmp_path: Path) -> None:
    slow = async_tool("left", metadata={"timeout_s": 0.2})
    reply = plan(step("s1", "left", seconds=30), answer="${s1}")
    graph, sink = agent(tmp_path, reply, reply, reply, reply, tools=[slow])
    started = time.monotonic()
    state = graph.invoke({"task": "t"})
    assert time.monotonic() - started < 20
    categories = [f.category for f in state["failures"]]
    assert categories and categories[0] is C.EXECUTION_TIMEOUT
    call = of_type(sink.events, ToolCall)[0]
    assert call.status == "error" and "no result within 0.2 s" in call.output
    deadline = time.monotonic() + 5
    while not cancelled and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cancelled == ["left"] * len(cancelled) and cancelled  # the coroutine was cancelled
    assert "end left" not in order


def test_an_async_tool_error_is_a_tool_error_with_its_message(tmp_path: Path) -> None:
    async def fail(city: str) -> str:
        raise ToolException(f"no weather station in {city}")

    raising = StructuredTool.from_function(coroutine=fail, name="weather", description="Weather.")
    reporting = StructuredTool.from_function(
        coroutine=fail, name="weather2", description="Weather.", handle_tool_error=True
    )
    reply = plan(step("s1", "weather", city="Atlantis"), step("s2", "weather2", city="Mu"))
    graph, _ = agent(tmp_path, reply, plan(answer="?"), tools=[raising, reporting])
    state = graph.invoke({"task": "t"})
    # The two steps run at once: their failures come in the order they finish.
    found = sorted((f.category, f.detail) for f in state["failures"] if f.node == "executor")
    assert found == [
        (C.EXECUTION_TOOL_ERROR, "no weather station in Atlantis"),
        # A tool that hands its error back as output is still a failed call.
        (C.EXECUTION_TOOL_ERROR, "no weather station in Mu"),
    ]


async def test_ainvoke_does_not_block_the_event_loop_on_a_sync_tool(tmp_path: Path) -> None:
    ticked = threading.Event()

    def wait_for_tick(seconds: float) -> str:
        # Returns "ticked" only if the caller's loop ran while this tool held its thread.
        return "ticked" if ticked.wait(seconds) else "blocked"

    blocking = StructuredTool.from_function(
        func=wait_for_tick, name="waiter", description="Wait for the loop to tick."
    )

    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(0.01)
            ticked.set()

    reply = plan(step("s1", "waiter", seconds=5), answer="${s1}")
    graph, _ = agent(tmp_path, reply, tools=[blocking])
    beat = asyncio.create_task(heartbeat())
    try:
        state = await graph.ainvoke({"task": "t"})
    finally:
        beat.cancel()
    assert state["answer"] == "ticked"


def test_content_blocks_are_read_as_text(tmp_path: Path) -> None:
    async def blocks(n: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        content = [{"type": "text", "text": str(n * 2)}]
        return content, {"structured_content": {"result": n * 2}}

    doubled = StructuredTool.from_function(
        coroutine=blocks,
        name="double",
        description="Double.",
        response_format="content_and_artifact",
    )
    graph, sink = agent(tmp_path, plan(step("s1", "double", n=21), answer="${s1}"), tools=[doubled])
    state = graph.invoke({"task": "t"})
    assert state["answer"] == "42"
    [call] = of_type(sink.events, ToolCall)
    assert (call.output, call.data) == ("42", {"result": 42})


class OnlyAsync(BaseTool):
    """A tool class that implements `_arun` only (its `_run` refuses)."""

    name: str = "only_async"
    description: str = "Say hello, asynchronously."

    def _run(self, who: str) -> str:
        raise NotImplementedError("use ainvoke")

    async def _arun(self, who: str) -> str:
        await asyncio.sleep(0)
        return f"hello {who}"


def test_a_tool_class_with_only_arun_runs(tmp_path: Path) -> None:
    reply = plan(step("s1", "only_async", who="you"), answer="${s1}")
    graph, _ = agent(tmp_path, reply, tools=[OnlyAsync()])
    state = graph.invoke({"task": "t"})
    assert state["answer"] == "hello you" and state["failures"] == []
