"""Write actions wait for a person: the run stops with `interrupt()` and resumes from a fresh
process through the checkpointer (Must show 1 of issue 18).

Every run is the real `agentlab` command in its own process, its model a
replay cassette; the thread lives in AGENTLAB_HOME/threads.sqlite between them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from support import agentlab, finish, of_type, plan, step, write_cassette

from agentlab.events import ApprovalDecided, EffectMade, Footer, ToolCall
from agentlab.failures import FailureEvent
from agentlab.trace import read_trace

TASK = "Work out 6*7 and save it to answer.txt"
PLAN = plan(
    step("s1", "calculator", expression="6*7"),
    step("s2", "files", action="create", path="answer.txt", content="${s1}"),
    answer="saved ${s1}",
)


def workspaces(home: Path) -> dict[str, str]:
    """Every file any run wrote in its workspace, by name."""
    root = home / "workspaces"
    return {p.name: p.read_text() for p in root.rglob("*") if p.is_file()} if root.exists() else {}


def start(tmp_path: Path, *extra: str) -> tuple[dict[str, Any], int]:
    cassette = write_cassette(tmp_path / "first.jsonl", PLAN)
    done = agentlab(
        "run", TASK, "--tools", "calculator,files", "--model", f"replay:{cassette}",
        "--no-memory", "--json", *extra, cwd=tmp_path,
    )  # fmt: skip
    assert done.stdout, done.stderr
    return json.loads(done.stdout), done.returncode


def resume(tmp_path: Path, answer: str, *replies: str) -> tuple[dict[str, Any], int]:
    cassette = write_cassette(tmp_path / "second.jsonl", *(replies or (finish("unused"),)))
    done = agentlab(
        "run", "--thread", "t1", "--resume", answer, "--tools", "calculator,files",
        "--model", f"replay:{cassette}", "--no-memory", "--json", cwd=tmp_path,
    )  # fmt: skip
    assert done.stdout, done.stderr
    return json.loads(done.stdout), done.returncode


def waiting(tmp_path: Path, home: Path) -> dict[str, Any]:
    """Start the run on thread t1 and check it stopped before the write, the read done."""
    result, code = start(tmp_path, "--thread", "t1")
    assert code == 3, result
    assert result["status"] == "waiting"
    asked = result["awaiting"]
    assert (asked["step_id"], asked["tool"]) == ("s2", "files")
    assert asked["args"] == {"action": "create", "path": "answer.txt", "content": "42"}
    events = read_trace(Path(result["trace"]))
    # The read-only step of the same wave ran; the write did not.
    assert [(c.step_id, c.output) for c in of_type(events, ToolCall)] == [("s1", "42")]
    assert not of_type(events, Footer)
    assert workspaces(home) == {}
    return result


def test_approve_resumes_in_a_fresh_process(tmp_path: Path) -> None:
    home = tmp_path / "agentlab-home"
    first = waiting(tmp_path, home)
    result, code = resume(tmp_path, "approve")
    assert code == 0, result
    assert result["answer"] == "saved 42"
    assert result["run_id"] == first["run_id"]
    assert workspaces(home) == {"answer.txt": "42"}
    events = read_trace(Path(result["trace"]))
    decided = of_type(events, ApprovalDecided)
    assert [d.decision.decision for d in decided] == ["approve"]
    assert [e.effect.target for e in of_type(events, EffectMade)] == ["answer.txt"]
    footer = of_type(events, Footer)[-1]
    assert [(e.tool, e.action, e.target) for e in footer.effects] == [
        ("files", "create", "answer.txt")
    ]
    assert [(e["tool"], e["target"]) for e in result["effects"]] == [("files", "answer.txt")]


def test_edit_runs_the_edited_arguments(tmp_path: Path) -> None:
    home = tmp_path / "agentlab-home"
    waiting(tmp_path, home)
    edited = json.dumps({"action": "create", "path": "edited.txt", "content": "forty-two"})
    result, code = resume(tmp_path, edited)
    assert code == 0, result
    assert workspaces(home) == {"edited.txt": "forty-two"}
    events = read_trace(Path(result["trace"]))
    call = next(c for c in of_type(events, ToolCall) if c.step_id == "s2")
    assert call.args["path"] == "edited.txt"


def test_reject_is_a_finding_and_nothing_is_written(tmp_path: Path) -> None:
    home = tmp_path / "agentlab-home"
    waiting(tmp_path, home)
    result, code = resume(tmp_path, "reject", finish("42 (not saved: the user declined)"))
    assert code == 0, result
    assert result["answer"] == "42 (not saved: the user declined)"
    assert workspaces(home) == {}
    events = read_trace(Path(result["trace"]))
    rejected = [
        f for f in of_type(events, FailureEvent) if f.category == "guardrail.action_rejected"
    ]
    assert [(f.step_id, f.tool) for f in rejected] == [("s2", "files")]
    assert "the user rejected" in rejected[0].detail
    assert of_type(events, Footer)[-1].effects == []


def test_approve_none_never_runs_a_write_tool(tmp_path: Path) -> None:
    home = tmp_path / "agentlab-home"
    cassette = write_cassette(tmp_path / "c.jsonl", PLAN, finish("42"))
    done = agentlab(
        "run", TASK, "--tools", "calculator,files", "--model", f"replay:{cassette}",
        "--no-memory", "--json", "--approve", "none", cwd=tmp_path,
    )  # fmt: skip
    result = json.loads(done.stdout)
    assert done.returncode == 0, result
    assert workspaces(home) == {}
    events = read_trace(Path(result["trace"]))
    assert [c.step_id for c in of_type(events, ToolCall)] == ["s1"]
    assert "guardrail.action_rejected" in of_type(events, Footer)[-1].failures


def test_approve_all_runs_the_write(tmp_path: Path) -> None:
    home = tmp_path / "agentlab-home"
    result, code = start(tmp_path, "--approve", "all")
    assert code == 0, result
    assert workspaces(home) == {"answer.txt": "42"}


def test_resume_without_a_waiting_run_is_a_usage_error(tmp_path: Path) -> None:
    cassette = write_cassette(tmp_path / "c.jsonl", finish("x"))
    done = agentlab(
        "run", "--thread", "nothing", "--resume", "approve", "--model", f"replay:{cassette}",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2
    assert "no run waiting for approval" in done.stderr + done.stdout
    bad = agentlab("run", "--thread", "t", "--resume", "maybe", cwd=tmp_path)
    assert bad.returncode == 2 and "--resume takes" in bad.stderr + bad.stdout


def _converse(tmp_path: Path, answers: list[tuple[str, str]]) -> tuple[int, str]:
    """Run the task on a pseudo-terminal, typing each answer when its prompt appears."""
    import os
    import select
    import subprocess
    import sys
    import time

    cassette = write_cassette(tmp_path / "tty.jsonl", PLAN, finish("42 (not saved)"))
    master, slave = os.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "agentlab", "run", TASK, "--tools", "calculator,files",
         "--model", f"replay:{cassette}", "--no-memory"],
        cwd=tmp_path, stdin=slave, stdout=slave, stderr=slave,
        env={**os.environ, "COLUMNS": "200", "TERM": "dumb"},
    )  # fmt: skip
    os.close(slave)
    seen, pending, deadline = "", list(answers), time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 4096).decode(errors="replace")
            except OSError:  # the child closed the terminal
                break
            seen += chunk
        if pending and pending[0][0] in seen:
            prompt, answer = pending.pop(0)
            seen = seen.replace(prompt, f"<{prompt}>", 1)  # each prompt is answered once
            os.write(master, (answer + "\n").encode())
        if process.poll() is not None and not ready:
            break
    os.close(master)
    return process.wait(timeout=30), seen


def test_on_a_terminal_the_user_edits_the_write(tmp_path: Path) -> None:
    edited = json.dumps({"action": "create", "path": "typed.txt", "content": "42!"})
    code, seen = _converse(
        tmp_path, [("approve? [y]es / [n]o / [e]dit", "e"), ("arguments (JSON object)", edited)]
    )
    assert code == 0, seen
    assert "approval needed" in seen and "answer.txt" in seen  # the planned call was shown
    assert workspaces(tmp_path / "agentlab-home") == {"typed.txt": "42!"}


def test_on_a_terminal_the_user_declines_the_write(tmp_path: Path) -> None:
    code, seen = _converse(
        tmp_path, [("approve? [y]es / [n]o / [e]dit", "n"), ("why (optional)", "not now")]
    )
    assert code == 0, seen
    assert workspaces(tmp_path / "agentlab-home") == {}


def test_the_time_a_person_takes_is_not_counted(tmp_path: Path) -> None:
    import time

    from agentlab.approvals import ApprovalDecision, ApprovalRequest
    from agentlab.config import AgentConfig
    from agentlab.runner import Runner

    def slow_person(request: ApprovalRequest) -> ApprovalDecision:
        time.sleep(1.5)
        return ApprovalDecision(decision="approve")

    cassette = write_cassette(tmp_path / "c.jsonl", PLAN)
    started = time.monotonic()
    with Runner(
        AgentConfig(memory=False),
        model=f"replay:{cassette}",
        tools=["calculator", "files"],
        trace_dir=tmp_path / "runs",
        approver=slow_person,
    ) as runner:
        result = runner.run(TASK)
    assert result.status == "answered" and time.monotonic() - started > 1.5
    footer = of_type(read_trace(Path(str(result.trace_path))), Footer)[-1]
    assert footer.seconds < 1.0
