"""The agent on a LangGraph server: `agentlab serve` (langgraph dev, in memory) on loopback,
driven with the langgraph-sdk client; the model is a replay cassette named by AGENTLAB_MODEL."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from langgraph_sdk import get_sync_client
from langgraph_sdk.client import SyncLangGraphClient
from support import of_type, plan, step, write_cassette

from agentlab.events import Footer, Header, MemoryRecalled, ModelCall
from agentlab.serve import GRAPH_ID, LANGGRAPH_CONFIG
from agentlab.trace import read_trace

ROOT = Path(__file__).resolve().parents[1]
NODES = ["recall", "planner", "validator", "executor", "joiner", "finalizer", "remember"]


def test_the_repositorys_langgraph_json_is_the_servers_config() -> None:
    assert json.loads((ROOT / "langgraph.json").read_text()) == LANGGRAPH_CONFIG


@dataclass
class Server:
    client: SyncLangGraphClient
    home: Path

    def traces(self) -> dict[str, list[object]]:
        """Every run's trace by task, read from the server's AGENTLAB_HOME."""
        runs = {}
        for path in sorted((self.home / "runs").glob("*.jsonl")):
            events = read_trace(path)
            header = of_type(events, Header)[0]
            runs[header.task] = events
        return runs


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """`agentlab serve` in a child process, scripted by a cassette of the runs below."""
    cassette = write_cassette(
        tmp_path / "cassette.jsonl",
        plan(step("s1", "calculator", expression="17*23"), answer="${s1}"),
        plan(step("s1", "calculator", expression="391+4"), answer="${s1}"),
        plan(step("s1", "calculator", expression="6*7"), answer="${s1}"),
        plan(step("s1", "calculator", expression="2+3"), answer="${s1}"),
        plan(step("s1", "calculator", expression="9*9"), answer="${s1}"),
    )
    home, port = tmp_path / "server-home", _free_port()
    env = {
        **os.environ,
        "AGENTLAB_HOME": str(home),
        "AGENTLAB_MODEL": f"replay:{cassette}",
        "AGENTLAB_EMBEDDER": "lexical",
    }
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "agentlab", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            try:
                if httpx.get(f"{url}/ok", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not come up in 120 s"
            time.sleep(0.5)
        yield Server(get_sync_client(url=url), home)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


@pytest.mark.slow
def test_threads_streaming_chat_input_and_memory_through_the_server(server: Server) -> None:
    client = server.client
    assert [a["graph_id"] for a in client.assistants.search()] == [GRAPH_ID]

    # A run on a thread, then a second turn on it that sees the first.
    first = client.threads.create()["thread_id"]
    state = client.runs.wait(first, GRAPH_ID, input={"task": "My name is Ada. What is 17*23?"})
    assert isinstance(state, dict)
    assert (state["status"], state["answer"]) == ("answered", "391")
    assert [(m["type"], m["content"]) for m in state["messages"]] == [
        ("human", "My name is Ada. What is 17*23?"),
        ("ai", "391"),
    ]
    state = client.runs.wait(first, GRAPH_ID, input={"task": "Add 4 to that."})
    assert isinstance(state, dict)
    assert state["answer"] == "395"
    assert [m["content"] for m in state["messages"]][-2:] == ["Add 4 to that.", "395"]
    second_prompt = of_type(server.traces()["Add 4 to that."], ModelCall)[0].messages[-1]
    assert "human: My name is Ada. What is 17*23?" in second_prompt["content"]
    assert "ai: 391" in second_prompt["content"]

    # Streaming node updates on a new thread, which recalls the first thread's fact from
    # the server's store.
    other = client.threads.create()["thread_id"]
    parts = list(
        client.runs.stream(
            other, GRAPH_ID, input={"task": "Ada asks: what is 6*7?"}, stream_mode="updates"
        )
    )
    updates = [part.data for part in parts if part.event == "updates"]
    assert [next(iter(u)) for u in updates] == NODES
    assert updates[NODES.index("finalizer")]["finalizer"]["answer"] == "42"
    stored = client.store.search_items(("memories", "default", "agentlab"))["items"]
    assert "User: My name is Ada." in [item["value"]["text"] for item in stored]
    recalled = of_type(server.traces()["Ada asks: what is 6*7?"], MemoryRecalled)[0]
    assert [m.kind for m in recalled.memories][:1] == ["fact"]
    planner_prompt = of_type(server.traces()["Ada asks: what is 6*7?"], ModelCall)[0]
    assert "User: My name is Ada." in planner_prompt.messages[-1]["content"]

    # Chat-style input: the last human message is the task, the answer an AI message.
    chat = client.threads.create()["thread_id"]
    state = client.runs.wait(
        chat, GRAPH_ID, input={"messages": [{"role": "user", "content": "What is 2+3?"}]}
    )
    assert isinstance(state, dict)
    assert (state["task"], state["answer"]) == ("What is 2+3?", "5")
    assert [(m["type"], m["content"]) for m in state["messages"]] == [
        ("human", "What is 2+3?"),
        ("ai", "5"),
    ]

    # An assistant configured with a variant runs that variant.
    assistant = client.assistants.create(
        GRAPH_ID, config={"configurable": {"variant": "no-validator"}}
    )
    ablated = client.threads.create()["thread_id"]
    parts = list(
        client.runs.stream(
            ablated,
            assistant["assistant_id"],
            input={"task": "What is 9*9?"},
            stream_mode="updates",
        )
    )
    ran = [next(iter(p.data)) for p in parts if p.event == "updates"]
    assert ran == [n for n in NODES if n != "validator"]
    assert of_type(server.traces()["What is 9*9?"], Header)[0].variant == "no-validator"

    # Every run wrote its JSONL trace, header to footer, under the server's AGENTLAB_HOME.
    traces = server.traces()
    assert len(traces) == 5
    for events in traces.values():
        assert isinstance(events[0], Header) and isinstance(events[-1], Footer)
        assert events[-1].status == "answered"
    threads = {first, other, chat, ablated}
    assert {of_type(t, Header)[0].thread_id for t in traces.values()} == threads
