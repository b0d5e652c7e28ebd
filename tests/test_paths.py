"""Names from outside never put a file outside its folder: `contained` and every place that
makes a path from a run, step, task, variant or artifact id."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agentlab.errors import ConfigError, UnsafePathError
from agentlab.eval.harness import cassette_path, safe_name
from agentlab.events import Header, event_json
from agentlab.execution import save_artifacts
from agentlab.paths import contained
from agentlab.tools.base import Artifact, ToolOutput
from agentlab.trace import JsonlTraceSink

HOSTILE = [
    "../../x",
    "..",
    ".",
    "",
    "/etc/passwd",
    "/tmp",
    "a/../../b",
    "..\\..\\x",
    "C:\\Windows\\x",
    "C:x",
    "bad\x00name",
    "line\nbreak",
    "x" * 256,
    "\u00e9" * 128,  # 256 bytes in UTF-8
    "\uff0e\uff0e",  # fullwidth full stops: NFKC folds them into ".."
    "\u2024\u2024",  # one dot leaders: NFKC folds them into ".."
    "a\uff0fb",  # fullwidth solidus: a "/" under NFKC
    "a\ufe68b",  # small reverse solidus: a "\\" under NFKC
    "\ud800",  # a lone surrogate cannot be a file name
]


def entries(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.mark.parametrize("name", HOSTILE)
def test_contained_refuses_every_hostile_name(tmp_path: Path, name: str) -> None:
    base = tmp_path / "base"
    with pytest.raises(UnsafePathError) as info:
        contained(base, name)
    assert info.value.name == name
    assert isinstance(info.value, ConfigError)  # a clear error, shown as a usage error


@pytest.mark.parametrize("name", ["s1-out.txt", "a.b", "..a", "caf\u00e9.png", "x" * 255])
def test_contained_keeps_plain_names_inside(tmp_path: Path, name: str) -> None:
    path = contained(tmp_path / "base", name)
    assert path.parent == (tmp_path / "base").resolve()
    assert path.name == name


def test_contained_refuses_a_link_out_of_the_folder(tmp_path: Path) -> None:
    base = tmp_path / "runs"
    base.mkdir()
    (base / "run1").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(UnsafePathError, match="outside"):
        contained(base, "run1", "x.txt")
    with pytest.raises(UnsafePathError):
        contained(base)


def test_contained_joins_several_parts(tmp_path: Path) -> None:
    assert contained(tmp_path, "full", "t1.jsonl") == tmp_path.resolve() / "full" / "t1.jsonl"
    with pytest.raises(UnsafePathError):
        contained(tmp_path, "full", "..")


class Files(ToolOutput):
    def as_text(self) -> str:
        return "files"


def artifacts(*names: str) -> ToolOutput:
    return Files(artifacts=[Artifact(name=n, data=b"data", media_type="") for n in names])


@pytest.mark.parametrize("step_id", ["../../../../escaped", "/abs", "a/b", "s\x001", "s" * 300])
def test_artifacts_of_a_hostile_step_id_are_refused(tmp_path: Path, step_id: str) -> None:
    runs = tmp_path / "home" / "runs" / "run1"
    with pytest.raises(UnsafePathError):
        save_artifacts(artifacts("out.txt"), runs, step_id)
    assert entries(tmp_path) == set()


def test_hostile_artifact_names_stay_in_the_run_folder(tmp_path: Path) -> None:
    folder = tmp_path / "run1"
    names = [
        "../../x.sh",
        "/etc/cron.d/job",
        "..",
        "a\\..\\..\\b",
        "nul\x00byte",
        "\uff0e\uff0e\uff0fescape",
        "p" * 5000 + ".png",
        "",
    ]
    paths = [Path(p) for p in save_artifacts(artifacts(*names), folder, "s1")]
    assert len(paths) == len(names)
    for path in paths:
        assert path.parent == folder.resolve() and path.name.startswith("s1-")
        assert len(path.name.encode()) <= 255 and path.read_bytes() == b"data"
    assert paths[6].suffix == ".png"  # a long name keeps its suffix
    assert entries(tmp_path) == {"run1", *(f"run1/{p.name}" for p in paths)}


@pytest.mark.parametrize("run_id", ["../../escaped", "/tmp/x", "a/b", "r\x00"])
def test_trace_files_are_never_named_outside_the_runs_folder(tmp_path: Path, run_id: str) -> None:
    sink = JsonlTraceSink(tmp_path / "runs")
    with pytest.raises(UnsafePathError):
        sink.write(run_id, {"type": "header"})
    with pytest.raises(UnsafePathError):
        sink.artifacts_dir(run_id)
    assert entries(tmp_path) in (set(), {"runs"})


def test_a_dot_dot_run_id_gets_no_artifact_folder(tmp_path: Path) -> None:
    sink = JsonlTraceSink(tmp_path / "runs")
    with pytest.raises(UnsafePathError):
        sink.artifacts_dir("..")
    header = Header(run_id="..", task="t", variant="full", config={}, model="m", tools=[])
    sink.write("..", event_json(header))  # "...jsonl" is a plain name inside the folder
    sink.close("..")
    assert entries(tmp_path) == {"runs", "runs/...jsonl"}


@pytest.mark.parametrize(
    ("task_id", "file"),
    [
        ("HumanEval/0", "HumanEval_0.jsonl"),
        ("../../../etc/passwd", "etc_passwd.jsonl"),
        ("..", "task.jsonl"),
        ("C:\\x", "C_x.jsonl"),
        ("a\x00b", "a_b.jsonl"),
        ("caf\u00e9\uff0e\uff0e", "caf.jsonl"),
    ],
)
def test_cassettes_of_hostile_task_ids_stay_in_the_record_folder(
    tmp_path: Path, task_id: str, file: str
) -> None:
    path = cassette_path(tmp_path / "rec", "../full", task_id)
    assert path == (tmp_path / "rec").resolve() / "full" / file


def test_long_task_ids_get_distinct_short_file_names() -> None:
    first, second = safe_name("t" * 400 + "1"), safe_name("t" * 400 + "2")
    assert first != second and len(first) == len(second) == 120
    assert safe_name("short-id_1.2") == "short-id_1.2"


def test_unsafe_path_error_is_exported() -> None:
    import agentlab

    assert agentlab.UnsafePathError is UnsafePathError
    assert "UnsafePathError" in agentlab.__all__


def test_a_name_is_never_resolved_against_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert contained("runs", "r1.jsonl") == tmp_path.resolve() / "runs" / "r1.jsonl"
    assert not os.path.exists(tmp_path / "runs")  # checking a name creates nothing
