"""MCP servers as tools, against a real server process: the shipped example
(examples/units/server.py, FastMCP over stdio, and over streamable HTTP).

The agent lists the server's tools, validates plans against their schemas,
calls them, and records a server-side error, a hung server and a killed one
under their categories; the servers are started once and stopped at the end.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import agentlab, of_type, plan, step, write_cassette

from agentlab import AgentConfig, build_agent
from agentlab.config import Budgets
from agentlab.errors import ConfigError
from agentlab.events import Graded, Header, ToolCall
from agentlab.failures import FailureCategory as C
from agentlab.llm import ReplayChatModel
from agentlab.mcp_servers import McpServers, parse_servers, read_servers
from agentlab.plan_checks import check_plan
from agentlab.schemas import Plan
from agentlab.tools.registry import ToolRegistry
from agentlab.trace import MemoryTraceSink, Tracer, read_trace

UNITS = Path(__file__).resolve().parents[1] / "examples" / "units"
SERVER = UNITS / "server.py"
TASK = "How many miles are a 10 km run and a 5 km run together?"


def servers_file(tmp_path: Path, **extra: Any) -> Path:
    path = tmp_path / "servers.json"
    entry = {"command": "python", "args": [str(SERVER)], **extra}
    path.write_text(json.dumps({"mcpServers": {"units": entry}}), encoding="utf-8")
    return path


def server_pids(marker: bytes = str(SERVER).encode()) -> list[int]:
    """The processes this test process started (its children) whose command holds `marker`:
    the example server by default."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if parent == os.getpid() and marker in command:
            found.append(int(entry.name))
    return found


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[McpServers]:
    with McpServers.from_file(servers_file(tmp_path, timeout=2)) as started:
        yield started


def run(
    tmp_path: Path, servers: McpServers, *replies: str
) -> tuple[dict[str, Any], MemoryTraceSink]:
    sink = MemoryTraceSink()
    model = ReplayChatModel(path=str(write_cassette(tmp_path / "c.jsonl", *replies)))
    graph = build_agent(
        AgentConfig(), model=model, tools=["calculator", *servers.tools], trace=Tracer(sink)
    )
    return graph.invoke({"task": TASK}), sink


def test_the_agent_lists_the_server_tools_with_their_schemas(servers: McpServers) -> None:
    assert [t.name for t in servers.tools] == ["convert", "units"]
    convert = servers.tools[0]
    schema = convert.args_schema
    assert isinstance(schema, dict)
    assert schema["required"] == ["value", "source", "target"]
    assert "km" in schema["properties"]["source"]["enum"]
    assert len(server_pids()) == 1  # one process for the whole session


def test_plans_are_validated_against_the_server_schemas(servers: McpServers) -> None:
    tools = ToolRegistry(servers.tools)

    def categories(**args: Any) -> list[C]:
        checked = Plan.model_validate({"steps": [step("s1", "convert", **args)], "answer": ""})
        return [f.category for f in check_plan(checked, tools, Budgets())]

    assert categories(value=5, source="km", target="mi") == []
    assert categories(value=5, source="km", target="furlong") == [C.PLANNING_INVALID_ARGUMENTS]
    assert categories(value="five", source="km", target="mi") == [C.PLANNING_INVALID_ARGUMENTS]
    assert categories(source="km", target="mi") == [C.PLANNING_INVALID_ARGUMENTS]
    assert categories(value=5, source="km", target="mi", digits=2) == [C.PLANNING_INVALID_ARGUMENTS]
    wrong_tool = Plan.model_validate({"steps": [step("s1", "konvert", value=1)], "answer": ""})
    assert [f.category for f in check_plan(wrong_tool, tools, Budgets())] == [
        C.PLANNING_INVALID_TOOL
    ]


def test_the_agent_calls_the_server_tools(tmp_path: Path, servers: McpServers) -> None:
    reply = (UNITS / "demo-cassette.jsonl").read_text(encoding="utf-8")
    state, sink = run(tmp_path, servers, json.loads(reply)["reply"])
    assert state["answer"] == "9.32057 mi" and state["failures"] == []
    calls = of_type(sink.events, ToolCall)
    # The calculator's "15" went to the server as the number its schema asks for.
    assert [(c.tool, c.args.get("value"), c.status) for c in calls] == [
        ("calculator", None, "ok"),
        ("convert", 15, "ok"),
    ]
    assert calls[1].data == {"result": 9.32057}


def test_a_server_side_error_is_a_tool_error_with_its_message(
    tmp_path: Path, servers: McpServers
) -> None:
    reply = plan(step("s1", "convert", value=5, source="km", target="kg"), answer="${s1}")
    state, sink = run(tmp_path, servers, reply, plan(answer="no answer"))
    first = state["failures"][0]
    assert first.category is C.EXECUTION_TOOL_ERROR and first.tool == "convert"
    assert "cannot convert km to kg: they measure different things" in first.detail
    assert of_type(sink.events, ToolCall)[0].status == "error"


def test_a_hung_server_is_a_timeout(tmp_path: Path, servers: McpServers) -> None:
    [pid] = server_pids()
    os.kill(pid, signal.SIGSTOP)
    try:
        reply = plan(step("s1", "convert", value=1, source="km", target="m"), answer="${s1}")
        state, _ = run(tmp_path, servers, reply, plan(answer="no answer"))
    finally:
        os.kill(pid, signal.SIGCONT)
    first = state["failures"][0]
    assert (first.category, first.tool) == (C.EXECUTION_TIMEOUT, "convert")
    assert "no result within 2 s" in first.detail


def test_a_killed_server_is_a_tool_error_not_a_crash(tmp_path: Path, servers: McpServers) -> None:
    [pid] = server_pids()
    os.kill(pid, signal.SIGKILL)
    reply = plan(step("s1", "convert", value=1, source="km", target="m"), answer="${s1}")
    state, _ = run(tmp_path, servers, reply, plan(answer="no answer"))
    first = state["failures"][0]
    assert (first.category, first.tool) == (C.EXECUTION_TOOL_ERROR, "convert")
    assert "MCP server 'units' is not answering" in first.detail


def test_servers_stop_when_closed(tmp_path: Path) -> None:
    with McpServers.from_file(servers_file(tmp_path)) as started:
        assert started.tools and len(server_pids()) == 1
    deadline = time.monotonic() + 10
    while server_pids() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server_pids() == []


def test_a_server_that_cannot_start_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "servers.json"
    path.write_text(json.dumps({"mcpServers": {"gone": {"command": str(tmp_path / "nope")}}}))
    with pytest.raises(ConfigError, match="MCP server 'gone' did not start: FileNotFoundError"):
        McpServers.from_file(path).start()


def test_a_server_that_never_answers_is_a_config_error_and_is_stopped() -> None:
    silent = McpServers.from_config({"mcpServers": {"mute": {"command": "sleep", "args": ["321"]}}})
    silent.start_timeout_s = 1
    started = time.monotonic()
    with pytest.raises(ConfigError, match="did not start within 1 s"):
        silent.start()
    assert time.monotonic() - started < 5
    deadline = time.monotonic() + 10
    while server_pids(b"321") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server_pids(b"321") == []


def test_bad_config_files_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="mcpServers"):
        parse_servers({"servers": {}})
    with pytest.raises(ConfigError, match="either a command"):
        parse_servers({"mcpServers": {"x": {"command": "a", "url": "http://b"}}})
    path = tmp_path / "s.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read the MCP servers"):
        read_servers(path)
    sse = parse_servers({"mcpServers": {"x": {"url": "http://b/sse", "type": "sse"}}})["x"]
    assert sse.connection() == {"transport": "sse", "url": "http://b/sse"}
    http = parse_servers({"mcpServers": {"x": {"url": "http://b/mcp", "transport": "http"}}})
    assert http["x"].connection()["transport"] == "streamable_http"
    stdio = parse_servers({"mcpServers": {"x": {"command": "python", "disabled": False}}})
    assert stdio["x"].connection() == {"transport": "stdio", "command": sys.executable, "args": []}
    relative = servers_file(tmp_path, cwd="sub")
    assert read_servers(relative)["units"].cwd == str(tmp_path.resolve() / "sub")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_server_over_streamable_http(tmp_path: Path) -> None:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, str(SERVER), "--http", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        url = f"http://127.0.0.1:{port}/mcp"
        with McpServers(parse_servers({"mcpServers": {"units": {"url": url}}})) as remote:
            reply = plan(step("s1", "convert", value=100, source="c", target="f"), answer="${s1}")
            state, _ = run(tmp_path, remote, reply)
        assert state["answer"] == "212.0" and state["failures"] == []
    finally:
        process.terminate()
        process.wait(10)


def test_cli_runs_the_units_agent_and_lists_the_server_tools(tmp_path: Path) -> None:
    cassette = UNITS / "demo-cassette.jsonl"
    done = agentlab(
        "run", "--agent", "units", "--model", f"replay:{cassette}", "--no-memory", "--json",
        "--trace-dir", str(tmp_path / "runs"), TASK, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["answer"] == "9.32057 mi"
    listed = agentlab("tools", "--json", "--mcp", str(servers_file(tmp_path)), cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert set(json.loads(listed.stdout)) == {"convert", "units"}
    by_flag = agentlab(
        "run", "--mcp", str(servers_file(tmp_path)), "--tools", "calculator",
        "--model", f"replay:{cassette}", "--no-memory", "--json",
        "--trace-dir", str(tmp_path / "runs"), TASK, cwd=tmp_path,
    )  # fmt: skip
    assert by_flag.returncode == 0, by_flag.stderr
    assert json.loads(by_flag.stdout)["answer"] == "9.32057 mi"
    listed_agents = agentlab("agents", cwd=tmp_path)
    assert "calculator + the MCP servers of servers.json" in listed_agents.stdout
    bad = agentlab("run", "--mcp", str(tmp_path / "missing.json"), TASK, cwd=tmp_path)
    assert bad.returncode == 2 and "cannot read the MCP servers" in bad.stderr


def readme_block() -> str:
    """The code of the README's "Bring your own tools" section."""
    text = (UNITS.parents[1] / "README.md").read_text(encoding="utf-8")
    section = text.split("## Bring your own tools", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_readme_example_runs_as_pasted(tmp_path: Path) -> None:
    code = readme_block()
    assert 'MODEL = "local:qwen2.5-coder-1.5b"' in code
    reply = plan(
        step("s1", "area", width=120, height=80),
        step("s2", "convert", value=120, source="m", target="ft"),
        step("s3", "word_count", text="a field"),
        answer="${s1} m2, ${s2} ft",
    )
    cassette = write_cassette(tmp_path / "c.jsonl", reply)
    # Only the model changes: a cassette instead of the embedded model.
    code = code.replace('"local:qwen2.5-coder-1.5b"', repr(f"replay:{cassette}"), 1)
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    env = {**os.environ, "AGENTLAB_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=UNITS.parents[1],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "9600 m2, 393.701 ft []"


def test_chat_keeps_the_servers_for_the_whole_conversation(tmp_path: Path) -> None:
    from test_memory_threads import agentlab as chat_agentlab

    cassette = write_cassette(
        tmp_path / "c.jsonl",
        plan(step("s1", "convert", value=10, source="km", target="mi"), answer="${s1}"),
        plan(step("s1", "convert", value=100, source="c", target="f"), answer="${s1}"),
    )
    done = chat_agentlab(
        tmp_path,
        "chat",
        "--no-memory",
        "--model",
        f"replay:{cassette}",
        "--mcp",
        str(servers_file(tmp_path)),
        stdin="10 km in miles?\n100 C in F?\n/exit\n",
    )
    assert done.returncode == 0, done.stderr
    assert "answer: 6.21371" in done.stdout and "answer: 212.0" in done.stdout


def servers_in(folder: Path) -> list[int]:
    """Live processes whose working folder is `folder` (the servers a test started there)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cwd").resolve() == folder:
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_eval_attaches_the_servers_to_every_run(tmp_path: Path, jobs: str) -> None:
    """`agentlab eval --mcp`: every pair's agent gets the served tools, in this process
    (-j 1) and in worker processes (-j 2), and the servers end with the evaluation."""
    where = tmp_path / "served"
    where.mkdir()
    config = servers_file(tmp_path, cwd=str(where))
    suite = tmp_path / "units.jsonl"
    tasks = [json.loads(line) for line in (UNITS / "tasks.jsonl").read_text().splitlines()]
    suite.write_text(
        "".join(json.dumps({**t, "tools": ["calculator"]}) + "\n" for t in tasks),
        encoding="utf-8",
    )
    plans = {
        "runs": plan(
            step("s1", "calculator", expression="10+5"),
            step("s2", "convert", value="${s1}", source="km", target="mi"),
            answer="${s2}",
        ),
        "oven": plan(step("s1", "convert", value=180, source="c", target="f"), answer="${s1}"),
        "luggage": plan(step("s1", "convert", value=23, source="kg", target="lb"), answer="${s1}"),
    }
    for task_id, reply in plans.items():
        (tmp_path / "cassettes" / "full").mkdir(parents=True, exist_ok=True)
        write_cassette(tmp_path / "cassettes" / "full" / f"{task_id}.jsonl", reply)
    out = tmp_path / "out"
    done = agentlab(
        "eval", str(suite), "--mcp", str(config), "--model", f"replay:{tmp_path / 'cassettes'}",
        "--out", str(out), "-j", jobs, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    traces = [read_trace(path) for path in out.glob("*.jsonl")]
    verdicts = {
        events[0].task_id: of_type(events, Graded)[0].outcome
        for events in traces
        if isinstance(events[0], Header)
    }
    assert verdicts == {"runs": "pass", "oven": "pass", "luggage": "pass"}
    converted = [
        e.output for events in traces for e in of_type(events, ToolCall) if e.tool == "convert"
    ]
    assert sorted(converted) == ["356.0", "50.7063", "9.32057"]
    deadline = time.monotonic() + 10
    while servers_in(where) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert servers_in(where) == []


def test_eval_knows_the_served_tools_and_refuses_a_bad_servers_file(tmp_path: Path) -> None:
    suite = tmp_path / "s.jsonl"
    suite.write_text(json.dumps({"id": "a", "prompt": "p", "answer": "1"}) + "\n")
    unknown = agentlab(
        "eval", str(suite), "--mcp", str(servers_file(tmp_path)), "-v", "no-weather",
        "--model", "replay:x.jsonl", "--out", str(tmp_path / "o"), cwd=tmp_path,
    )  # fmt: skip
    assert unknown.returncode == 2
    assert "convert" in unknown.stderr and "no-weather" in unknown.stderr
    missing = agentlab(
        "eval", str(suite), "--mcp", str(tmp_path / "none.json"),
        "--out", str(tmp_path / "o"), cwd=tmp_path,
    )  # fmt: skip
    assert missing.returncode == 2 and "cannot read the MCP servers" in missing.stderr
