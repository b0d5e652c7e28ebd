"""Threads and memory from the CLI, as a user runs it: real subprocesses, real SQLite files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from langgraph.checkpoint.memory import InMemorySaver
from support import finish, of_type, plan, step, write_cassette

from agentlab import AgentConfig
from agentlab.config import Budgets
from agentlab.events import Header, Resumed, ToolCall
from agentlab.runner import Runner
from agentlab.trace import read_trace

HERE = Path(__file__).resolve().parent


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    env["AGENTLAB_HOME"] = str(tmp_path / "home")
    env.update(extra)
    return env


def agentlab(
    tmp_path: Path, *args: str, stdin: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentlab", *args],
        cwd=tmp_path,
        env=_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=180,
        input=stdin,
    )


def prompts(record: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in record.read_text().splitlines()]


def planner_prompt(record: Path, index: int = 0) -> str:
    planner = [p for p in prompts(record) if p["node"] == "planner"]
    messages = planner[index]["messages"]
    assert isinstance(messages, list)
    return str(messages[-1]["content"])


ASK = "What is 17*23+4?"
FIRST = (plan(step("s1", "calculator", expression="17*23+4"), answer="${s1}"),)
SECOND = (plan(answer="You asked about 17*23+4, which is 395."),)


def test_second_run_on_a_thread_answers_about_the_first(tmp_path: Path) -> None:
    first = write_cassette(tmp_path / "first.jsonl", *FIRST)
    second = write_cassette(tmp_path / "second.jsonl", *SECOND)
    record = tmp_path / "second-recorded.jsonl"
    done = agentlab(tmp_path, "run", ASK, "--thread", "t1", "--model", f"replay:{first}")
    assert done.returncode == 0, done.stderr
    done = agentlab(
        tmp_path,
        "run",
        "What number did I ask you about?",
        "--thread",
        "t1",
        "--model",
        f"replay:{second}",
        "--record",
        str(record),
        "--json",
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["answer"] == "You asked about 17*23+4, which is 395."
    prompt = planner_prompt(record)
    assert f"- human: {ASK}\n- ai: 395" in prompt
    assert (tmp_path / "home" / "threads.sqlite").is_file()


def test_another_thread_does_not_see_the_conversation(tmp_path: Path) -> None:
    first = write_cassette(tmp_path / "first.jsonl", *FIRST)
    second = write_cassette(tmp_path / "second.jsonl", *SECOND)
    record = tmp_path / "rec.jsonl"
    assert (
        agentlab(tmp_path, "run", ASK, "--thread", "a", "--model", f"replay:{first}").returncode
        == 0
    )
    done = agentlab(
        tmp_path,
        "run",
        "What number did I ask you about?",
        "--thread",
        "b",
        "--model",
        f"replay:{second}",
        "--record",
        str(record),
        "--no-memory",
    )
    assert done.returncode == 0, done.stderr
    assert "Conversation so far" not in planner_prompt(record)
    assert "<memories>" not in planner_prompt(record)


CHAIN = plan(
    step("s1", "slow_step", text="a"),
    step("s2", "slow_step", text="${s1}b"),
    step("s3", "slow_step", text="${s2}c"),
)


def _wait_for(path: Path, text: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file() and text in path.read_text():
            return
        time.sleep(0.02)
    raise AssertionError(f"{text!r} never appeared in {path}")


def test_a_killed_run_resumes_without_redoing_finished_steps(tmp_path: Path) -> None:
    plan_only = write_cassette(tmp_path / "plan.jsonl", CHAIN)
    finish_only = write_cassette(tmp_path / "finish.jsonl", finish("a+b+c+"))
    log = tmp_path / "steps.log"
    args = ["run", "Chain three slow steps", "--thread", "k1", "--tool", "memory_tools:slow_step"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentlab", *args, "--model", f"replay:{plan_only}"],
        cwd=tmp_path,
        env=_env(tmp_path, AGENTLAB_TEST_STEP_LOG=str(log)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # The third step starts only after the second step's checkpoint is on disk.
    _wait_for(log, "start a+b+c")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    # Resume: the task may be omitted; the cassette holds only the reflector's reply,
    # so the planner must not run again.
    done = agentlab(
        tmp_path,
        "run",
        "--thread",
        "k1",
        "--tool",
        "memory_tools:slow_step",
        "--model",
        f"replay:{finish_only}",
        "--json",
        AGENTLAB_TEST_STEP_LOG=str(log),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["answer"] == "a+b+c+"
    events = read_trace(result["trace"])
    calls = [(c.step_id, c.output) for c in of_type(events, ToolCall)]
    assert calls == [("s1", "a+"), ("s2", "a+b+"), ("s3", "a+b+c+")]
    [resumed] = of_type(events, Resumed)
    assert resumed.completed_steps == ["s1", "s2"]
    assert resumed.next == ["executor"]
    assert len(of_type(events, Header)) == 1
    assert events[-1].type == "footer" and events[-1].status == "answered"
    # Steps 1 and 2 ran once, in the killed process; step 3 was cut off and ran again.
    lines = [line.split(" ", 1) for line in log.read_text().splitlines()]
    first_pid = lines[0][0]
    assert [(pid == first_pid, what) for pid, what in lines] == [
        (True, "start a"),
        (True, "end a"),
        (True, "start a+b"),
        (True, "end a+b"),
        (True, "start a+b+c"),
        (False, "start a+b+c"),
        (False, "end a+b+c"),
    ]
    # The thread is finished: a bare --thread has nothing left to resume.
    again = agentlab(tmp_path, "run", "--thread", "k1", "--model", f"replay:{finish_only}")
    assert again.returncode == 2
    assert "no unfinished run" in again.stderr


def test_time_the_run_lay_dead_does_not_count_against_its_time_budget(tmp_path: Path) -> None:
    cassette = write_cassette(
        tmp_path / "chain.jsonl",
        plan(
            step("s1", "calculator", expression="17*23"),
            step("s2", "calculator", expression="${s1}+4"),
        ),
        finish("395"),
    )
    config = AgentConfig(tools=("calculator",), budgets=Budgets(max_seconds=1.0))
    runner = Runner(
        config,
        model=f"replay:{cassette}",
        trace_dir=tmp_path / "runs",
        checkpointer=InMemorySaver(),
    )
    thread = {"configurable": {"thread_id": "t1", "run_id": "r1"}}
    # The process "dies" after the first wave: the stream is abandoned mid-run.
    for update in runner.graph.stream({"task": "What is 17*23+4?"}, thread, durability="sync"):
        if "executor" in update:
            break
    assert runner.unfinished("t1") == "What is 17*23+4?"
    time.sleep(1.5)  # longer than the whole time budget

    result = runner.run(None, thread_id="t1")
    assert result.status == "answered", result.status_detail
    assert result.answer == "395"
    events = read_trace(result.trace_path)
    [resumed] = of_type(events, Resumed)
    assert resumed.completed_steps == ["s1"] and resumed.paused_s >= 1.5
    assert events[-1].seconds < 1.0
    assert [c.step_id for c in of_type(events, ToolCall)] == ["s1", "s2"]


FAILING = plan(step("s1", "abacus", expression="2^10+5"))


def test_a_run_after_a_failed_run_gets_the_lesson_in_its_planner_prompt(tmp_path: Path) -> None:
    failed = write_cassette(tmp_path / "failed.jsonl", *[FAILING] * 4)
    done = agentlab(tmp_path, "run", "What is 2^10 + 5?", "--model", f"replay:{failed}")
    assert done.returncode == 1  # every plan rejected: budget exhausted
    good = write_cassette(
        tmp_path / "good.jsonl",
        plan(step("s1", "calculator", expression="2**12+7")),
        finish("4103"),
    )
    record = tmp_path / "rec.jsonl"
    done = agentlab(
        tmp_path,
        "run",
        "What is 2^12 + 7?",
        "--model",
        f"replay:{good}",
        "--record",
        str(record),
    )
    assert done.returncode == 0, done.stderr
    prompt = planner_prompt(record)
    memories = prompt.split("<memories>\n", 1)[1].split("\n</memories>", 1)[0]
    assert "- lesson: Lesson from the task 'What is 2^10 + 5?': went wrong:" in memories
    assert "planning.invalid_tool (step s1, tool abacus)" in memories
    assert "ended without an answer (budget_exhausted)" in memories

    # The same run with memory switched off sees no lesson.
    record_off = tmp_path / "rec-off.jsonl"
    done = agentlab(
        tmp_path,
        "run",
        "What is 2^12 + 7?",
        "--model",
        f"replay:{good}",
        "--record",
        str(record_off),
        "--no-memory",
    )
    assert done.returncode == 0, done.stderr
    assert "<memories>" not in planner_prompt(record_off)


def test_facts_stated_in_a_run_can_be_listed_searched_forgotten_and_exported(
    tmp_path: Path,
) -> None:
    cassette = write_cassette(tmp_path / "c.jsonl", *FIRST)
    done = agentlab(
        tmp_path, "run", f"My favourite colour is blue. {ASK}", "--model", f"replay:{cassette}"
    )
    assert done.returncode == 0, done.stderr
    listed = [
        json.loads(line)
        for line in agentlab(tmp_path, "memory", "list", "--json").stdout.splitlines()
    ]
    assert sorted(m["kind"] for m in listed) == ["fact", "plan"]
    fact = next(m for m in listed if m["kind"] == "fact")
    assert fact["text"] == "User: My favourite colour is blue."
    assert fact["source_run"] and fact["subject"] == "favourite colour"
    found = agentlab(tmp_path, "memory", "search", "which colour do I like", "--json")
    assert json.loads(found.stdout.splitlines()[0])["id"] == fact["id"]
    assert agentlab(tmp_path, "memory", "forget", fact["id"]).returncode == 0
    assert agentlab(tmp_path, "memory", "forget", fact["id"]).returncode == 1
    exported = agentlab(tmp_path, "memory", "export").stdout.splitlines()
    assert [json.loads(line)["kind"] for line in exported] == ["plan"]
    # Another user has no memories.
    other = agentlab(tmp_path, "memory", "list", "--json", "--user", "someone-else")
    assert other.stdout.strip() == ""


def test_bad_custom_tool_is_a_usage_error(tmp_path: Path) -> None:
    cassette = write_cassette(tmp_path / "c.jsonl", *FIRST)
    done = agentlab(tmp_path, "run", ASK, "--model", f"replay:{cassette}", "--tool", "nowhere:x")
    assert done.returncode == 2
    assert "cannot import 'nowhere'" in done.stderr
    done = agentlab(
        tmp_path, "run", ASK, "--model", f"replay:{cassette}", AGENTLAB_TOOLS="memory_tools:SLOW_S"
    )
    assert done.returncode == 2
    assert "not a tool" in done.stderr
