"""Broken memory files and unusual user names: a clear message or a `memory_error` event,
never a traceback and never memory silently switched off."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import pytest
from support import agentlab, of_type, only_trace, plan, step, write_cassette

from agentlab.events import MemoryFault, MemoryRecalled
from agentlab.memory import LongTermMemory, MemoryKind, open_backends, open_store
from agentlab.memory.backends import StoreFileError, UnavailableStore
from agentlab.memory.long_term import namespace_label

GARBAGE = bytes(range(256)) * 40


def home(tmp_path: Path) -> Path:
    folder = tmp_path / "agentlab-home"
    folder.mkdir(exist_ok=True)
    return folder


def cassette(tmp_path: Path) -> Path:
    return write_cassette(
        tmp_path / "c.jsonl", plan(step("s1", "calculator", expression="6*7"), answer="${s1}")
    )


def test_a_run_with_a_corrupt_memory_file_answers_and_says_why(tmp_path: Path) -> None:
    (home(tmp_path) / "memory.sqlite").write_bytes(GARBAGE)
    done = agentlab("run", "What is 6*7?", "--model", f"replay:{cassette(tmp_path)}", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    events = only_trace(home(tmp_path) / "runs")
    errors = of_type(events, MemoryFault)
    assert [e.node for e in errors] == ["recall", "remember"]
    assert "memory.sqlite cannot be used as the memory database" in errors[0].detail
    assert events[-1].status == "answered"


def test_memory_commands_on_a_corrupt_file_say_what_to_do(tmp_path: Path) -> None:
    (home(tmp_path) / "memory.sqlite").write_bytes(GARBAGE)
    done = agentlab("memory", "list", cwd=tmp_path)
    assert done.returncode == 1
    assert "memory.sqlite cannot be used as the memory database" in done.stderr
    assert "move it aside" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("command", [["run", "What is 6*7?", "--thread", "t1"], ["chat"]])
def test_a_corrupt_threads_file_is_a_clear_error(tmp_path: Path, command: list[str]) -> None:
    (home(tmp_path) / "threads.sqlite").write_bytes(GARBAGE)
    done = agentlab(*command, "--model", f"replay:{cassette(tmp_path)}", cwd=tmp_path)
    assert done.returncode == 2
    assert "threads.sqlite cannot be used as the threads database" in done.stderr
    assert "Traceback" not in done.stderr


def test_open_backends_stands_in_for_a_broken_store(tmp_path: Path) -> None:
    (tmp_path / "memory.sqlite").mkdir()  # not even a file
    with open_backends(threads=False, memory=True, home=tmp_path) as backends:
        assert isinstance(backends.store, UnavailableStore)
        with pytest.raises(StoreFileError, match="memory database"):
            LongTermMemory(backends.store).list()
    with ExitStack() as stack, pytest.raises(StoreFileError):
        open_store(stack, tmp_path)


@pytest.mark.parametrize("user", ["ada.l@example.org", "a.b", "..", "100%", "a%2Eb", ""])
def test_any_user_name_is_a_namespace_label(tmp_path: Path, user: str) -> None:
    label = namespace_label(user)
    assert "." not in label and label
    assert label != namespace_label(user + ".") and label != namespace_label("a%2Eb" + user)
    with ExitStack() as stack:
        store = open_store(stack, tmp_path)
        LongTermMemory(store, user=user).remember(MemoryKind.LESSON, f"lesson of {user!r}")
        assert [m.text for m in LongTermMemory(store, user=user).list()] == [f"lesson of {user!r}"]


def test_a_user_with_dots_keeps_long_term_memory(tmp_path: Path) -> None:
    user = "ada.l@example.org"
    done = agentlab(
        "run",
        "What is 6*7?",
        "--model",
        f"replay:{cassette(tmp_path)}",
        "--user",
        user,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    events = only_trace(home(tmp_path) / "runs")
    assert of_type(events, MemoryFault) == []
    assert len(of_type(events, MemoryRecalled)) == 1
    with ExitStack() as stack:
        LongTermMemory(open_store(stack)).remember(MemoryKind.LESSON, "a lesson for ada")
        LongTermMemory(open_store(stack), user=user).remember(MemoryKind.LESSON, "ada's own")
    listed = agentlab("memory", "list", "--user", user, "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "ada's own" in listed.stdout and "a lesson for ada" not in listed.stdout
