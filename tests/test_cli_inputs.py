"""What a user can type wrong gets a clear message and exit code 2, never a traceback:
the real `agentlab` command, run as a process."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import agentlab, only_trace

ROOT = Path(__file__).resolve().parents[1]
DEMO_CASSETTE = ROOT / "examples" / "math" / "demo-cassette.jsonl"
REPLAY = f"replay:{DEMO_CASSETTE}"


def usage_error(done: object, *phrases: str) -> None:
    """Exit code 2, every phrase on stderr, and no traceback anywhere."""
    assert done.returncode == 2, (done.stdout, done.stderr)  # type: ignore[attr-defined]
    for phrase in phrases:
        assert phrase in done.stderr, done.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in done.stdout + done.stderr  # type: ignore[attr-defined]


@pytest.mark.parametrize("task", ["", " \n\t "])
def test_an_empty_task_is_a_usage_error_and_writes_no_trace(tmp_path: Path, task: str) -> None:
    done = agentlab("run", task, "--model", REPLAY, cwd=tmp_path)
    usage_error(done, "the task is empty")
    assert not list((tmp_path / "agentlab-home").rglob("*.jsonl"))


def test_a_trace_dir_that_is_a_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "traces").write_text("not a folder")
    done = agentlab(
        "run", "What is 17*23+4?", "--model", REPLAY, "--trace-dir", "traces", cwd=tmp_path
    )
    usage_error(done, "--trace-dir traces is a file, not a folder")
    below = agentlab(
        "run", "What is 17*23+4?", "--model", REPLAY, "--trace-dir", "traces/runs", cwd=tmp_path
    )
    usage_error(below, "--trace-dir traces/runs: cannot create the folder")


def test_a_trace_dir_that_is_missing_is_made(tmp_path: Path) -> None:
    done = agentlab(
        "run", "What is 17*23+4?", "--model", REPLAY, "--trace-dir", "a/b", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert only_trace(tmp_path / "a" / "b")[-1].answer == "395"


def test_record_into_a_missing_folder_makes_it(tmp_path: Path) -> None:
    done = agentlab(
        "run", "What is 17*23+4?", "--model", REPLAY, "--record", "new/dir/c.jsonl", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    # One model call: the demo's plan answers from its template.
    assert len((tmp_path / "new" / "dir" / "c.jsonl").read_text().splitlines()) == 1


def test_record_onto_a_folder_or_below_a_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("x")
    onto = agentlab(
        "run", "What is 17*23+4?", "--model", REPLAY, "--record", "folder", cwd=tmp_path
    )
    usage_error(onto, "--record folder is a folder", "folder/run.jsonl")
    below = agentlab(
        "run", "What is 17*23+4?", "--model", REPLAY, "--record", "file/c.jsonl", cwd=tmp_path
    )
    usage_error(below, "--record folder file is a file")
    assert not list((tmp_path / "agentlab-home").rglob("*.jsonl"))


def test_eval_record_below_a_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    done = agentlab("eval", "math", "--model", REPLAY, "--record", "file/rec", cwd=tmp_path)
    usage_error(done, "--record file/rec: cannot create the folder")


@pytest.mark.parametrize(
    ("spec", "said"),
    [
        ("os:system", "'os:system' is a builtin_function_or_method, not a tool (decorate it"),
        ("os:sep", "'os:sep' is a str, not a tool"),
    ],
)
def test_a_custom_tool_that_is_not_a_tool_is_refused_not_called(
    tmp_path: Path, spec: str, said: str
) -> None:
    done = agentlab("run", "What is 17*23+4?", "--model", REPLAY, "--tool", spec, cwd=tmp_path)
    usage_error(done, said)


@pytest.mark.parametrize("name", ["../..", "/etc", "math/../coder", "nope"])
def test_an_agent_is_a_shipped_name_or_a_yaml_file(tmp_path: Path, name: str) -> None:
    done = agentlab("run", "What is 17*23+4?", "--model", REPLAY, "--agent", name, cwd=tmp_path)
    usage_error(done, f"agent {name!r}", "the path of your own agent.yaml")


def test_an_agent_yaml_given_as_a_path_runs(tmp_path: Path) -> None:
    folder = tmp_path / "adder"
    folder.mkdir()
    (folder / "agent.yaml").write_text(
        "description: adds\ntools: [calculator]\ntasks: tasks.jsonl\n"
    )
    (folder / "tasks.jsonl").write_text('{"prompt": "1+1"}\n')
    done = agentlab(
        "run", "What is 17*23+4?", "--model", REPLAY, "--agent", "adder/agent.yaml", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    events = only_trace(tmp_path / "agentlab-home" / "runs")
    assert events[0].tools == ["calculator"] and events[-1].answer == "395"


def test_an_agent_yaml_cannot_name_tasks_outside_its_folder(tmp_path: Path) -> None:
    (tmp_path / "agent.yaml").write_text("tools: [calculator]\ntasks: ../../etc/passwd\n")
    done = agentlab("run", "x", "--model", REPLAY, "--agent", "./agent.yaml", cwd=tmp_path)
    usage_error(done, "tasks:", "name a file beside agent.yaml")


def test_agents_help_states_the_rule(tmp_path: Path) -> None:
    done = agentlab("agents", "--help", cwd=tmp_path)
    assert done.returncode == 0
    assert "--agent ./my-agent/agent.yaml" in done.stdout


@pytest.mark.parametrize("timeout", ["0", "nan", "inf"])
def test_sandbox_exec_timeout_must_be_a_sane_number(tmp_path: Path, timeout: str) -> None:
    done = agentlab("sandbox", "exec", "print(1)", "--timeout", timeout, cwd=tmp_path)
    usage_error(done, "Invalid value for '--timeout'", "above 0 and at most 3600")
