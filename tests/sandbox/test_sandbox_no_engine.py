"""No engine: a clear error naming the fix, fast, never a fallback (Must show 5).

These need no Docker engine: that is the point.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentlab.errors import SandboxUnavailableError, ToolError
from agentlab.failures import FailureCategory
from agentlab.sandbox import Session, connect
from agentlab.tools.python import PythonTool


@pytest.fixture
def dead_socket(tmp_path: Path) -> str:
    """A socket path with nothing behind it."""
    return f"unix://{tmp_path / 'docker.sock'}"


@pytest.fixture
def silent_socket(tmp_path: Path) -> Iterator[str]:
    """A socket that accepts connections and never answers: must not hang the client."""
    path = tmp_path / "silent.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                held.append(conn)
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"unix://{path}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def _assert_names_the_fix(message: str, address: str) -> None:
    assert "Docker engine not reachable" in message
    assert address in message
    assert "dockerd" in message and "docker.io" in message


def test_missing_socket_fails_fast_with_the_fix(dead_socket: str) -> None:
    started = time.monotonic()
    with pytest.raises(SandboxUnavailableError) as info:
        connect(dead_socket)
    assert time.monotonic() - started < 5
    _assert_names_the_fix(info.value.message, dead_socket)
    assert info.value.docker_host == dead_socket


def test_silent_engine_times_out_instead_of_hanging(silent_socket: str) -> None:
    started = time.monotonic()
    with pytest.raises(SandboxUnavailableError) as info:
        connect(silent_socket, connect_timeout=1.0)
    assert time.monotonic() - started < 10
    _assert_names_the_fix(info.value.message, silent_socket)


def test_session_start_reports_the_missing_engine(
    dead_socket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", dead_socket)
    with pytest.raises(SandboxUnavailableError, match="dockerd"):
        Session.start()


def test_tool_surfaces_it_as_a_tool_error(dead_socket: str) -> None:
    tool = PythonTool(docker_url=dead_socket)
    config = {"configurable": {"agentlab_run_id": "no-engine"}}
    with pytest.raises(ToolError) as info:
        tool.invoke({"code": "print('must never run on the host')"}, config=config)
    assert info.value.category is FailureCategory.EXECUTION_TOOL_ERROR
    assert info.value.tool_name == "python"
    _assert_names_the_fix(info.value.message, dead_socket)
