"""Live model progress in the CLI: shown on a terminal (a real pseudo-terminal), absent from
`--json` and pipes, which get what they always got."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import struct
import sys
import termios
import time
from fcntl import ioctl
from pathlib import Path
from typing import Any

from openai_fake import FakeOpenAI
from support import agentlab, plan, step

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
GOOD_PLAN = plan(step("s1", "calculator", expression="17*23+4"), answer="${s1}")
TASK = "What is 17*23+4?"


def run_in_pty(args: list[str], env: dict[str, str], timeout: float = 120) -> tuple[int, str]:
    """`agentlab ARGS` on a pseudo-terminal 120 columns wide: exit code and everything shown
    (colours and cursor movements left out)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the agentlab process, its stdio on the terminal
        os.execve(sys.executable, [sys.executable, "-m", "agentlab", *args], env)
    ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    output = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 1.0)
            if not ready:
                continue
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            output.extend(data)
        else:
            os.kill(pid, signal.SIGKILL)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), ANSI.sub("", output.decode("utf-8", "replace"))


def environment(fake: FakeOpenAI, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "NO_COLOR"))}
    return env | {
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_KEY": "sk-test",
        "AGENTLAB_HOME": str(tmp_path / "home"),
        "TERM": "xterm-256color",
    }


def streamed(fake: FakeOpenAI) -> list[bool]:
    return [bool(r.get("stream")) for r in fake.requests]


def test_a_terminal_shows_tokens_streaming_then_the_plan(serve: Any, tmp_path: Path) -> None:
    fake = serve([(200, GOOD_PLAN)], chunk_delay_s=0.05)
    code, screen = run_in_pty(
        ["run", TASK, "--model", "openai:m", "--tools", "calculator"], environment(fake, tmp_path)
    )
    assert code == 0, screen
    assert streamed(fake) == [True]  # one plan answers from its template
    # The live line: the node asking, the token count, the reply as it arrives.
    assert "planner · " in screen and " tokens " in screen
    assert '"tool": "calculator"' in screen or '"calculator"' in screen
    # Then the parsed plan, the step and the answer, as before.
    assert "plan" in screen and "17*23+4" in screen
    assert "answer: 395" in screen
    assert "tokens 120," in screen  # the server's usage, streamed after the reply


def test_json_and_pipes_get_no_progress_and_no_streaming(serve: Any, tmp_path: Path) -> None:
    fake = serve([(200, GOOD_PLAN)] * 3)
    env = environment(fake, tmp_path)
    args = ["run", TASK, "--model", "openai:m", "--tools", "calculator"]
    code, screen = run_in_pty([*args, "--json"], env)
    assert code == 0, screen
    lines = [line for line in screen.replace("\r", "").splitlines() if line.strip()]
    assert len(lines) == 1, screen  # one JSON result, nothing else
    on_terminal = json.loads(lines[0])
    piped = agentlab(*args, "--json", cwd=tmp_path, env=env)
    assert piped.returncode == 0, piped.stderr
    from_pipe = json.loads(piped.stdout)
    assert set(on_terminal) == set(from_pipe)
    assert on_terminal["answer"] == from_pipe["answer"] == "395"
    assert on_terminal["counters"] == from_pipe["counters"]  # server usage, not estimates
    plain = agentlab(*args, cwd=tmp_path, env=env)
    assert plain.returncode == 0 and "answer: 395" in plain.stdout
    assert "planner · " not in plain.stdout
    assert streamed(fake) == [False] * 3
