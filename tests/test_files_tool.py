"""`files` stays inside its run's workspace: every way out is a clear tool error, nothing written.

Must show 2 of issue 18: `..`, absolute paths, and links planted by an earlier
step (to a folder or a file outside) are refused; so are hard links and
special files. Real files on a real file system.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agentlab.errors import ToolError
from agentlab.execution import tool_config
from agentlab.tools.effects import EffectOutput
from agentlab.tools.files import MAX_FILE_BYTES, FilesTool

RUN = "run1"


@pytest.fixture
def tool(tmp_path: Path) -> FilesTool:
    return FilesTool(root=tmp_path / "workspaces")


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_text("keep me", encoding="utf-8")
    return folder


def call(tool: FilesTool, **args: str) -> EffectOutput:
    output = tool.invoke(args, config=tool_config(RUN, None))  # type: ignore[arg-type]
    assert isinstance(output, EffectOutput)
    return output


def snapshot(folder: Path) -> dict[str, bytes | str]:
    """Every entry under `folder`: file bytes, or where a link points."""
    found: dict[str, bytes | str] = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        if path.is_symlink():
            found[key] = "-> " + os.readlink(path)
        elif path.is_file():
            found[key] = path.read_bytes()
        else:
            found[key] = "dir"
    return found


def test_create_append_delete_inside_the_workspace(tool: FilesTool) -> None:
    made = call(tool, action="create", path="notes/todo.txt", content="milk\n")
    assert made.effect.action == "create" and made.effect.target == "notes/todo.txt"
    call(tool, action="append", path="notes/todo.txt", content="eggs\n")
    workspace = tool.workspace(RUN)
    assert (workspace / "notes" / "todo.txt").read_text() == "milk\neggs\n"
    assert oct((workspace / "notes" / "todo.txt").stat().st_mode & 0o777) == "0o600"
    gone = call(tool, action="delete", path="notes/todo.txt")
    assert gone.effect.action == "delete"
    assert not (workspace / "notes" / "todo.txt").exists()


def test_create_refuses_to_replace_a_file(tool: FilesTool) -> None:
    call(tool, action="create", path="a.txt", content="first")
    with pytest.raises(ToolError, match="already exists"):
        call(tool, action="create", path="a.txt", content="second")
    assert (tool.workspace(RUN) / "a.txt").read_text() == "first"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("../escape.txt", "climbs out"),
        ("notes/../../escape.txt", "climbs out"),
        ("/tmp/escape.txt", "absolute"),
        ("\\\\server\\share\\x.txt", "absolute"),
        ("C:\\escape.txt", "absolute"),
        ("~/escape.txt", "absolute"),
        ("．．/escape.txt", "climbs out"),  # fullwidth dots fold to '..'
        ("", "give a path"),
        ("a\x00b", "control character"),
    ],
)
def test_paths_out_of_the_workspace_are_refused(
    tool: FilesTool, tmp_path: Path, path: str, message: str
) -> None:
    before = snapshot(tmp_path)
    for action in ("create", "append", "delete"):
        with pytest.raises(ToolError, match=message):
            call(tool, action=action, path=path, content="x")
    assert snapshot(tmp_path) == before
    assert not Path("/tmp/escape.txt").exists()


def test_a_link_to_a_folder_outside_is_not_followed(
    tool: FilesTool, tmp_path: Path, outside: Path
) -> None:
    workspace = tool.workspace(RUN)
    (workspace / "docs").symlink_to(outside)  # planted by an earlier step
    before = snapshot(tmp_path)
    for action in ("create", "append", "delete"):
        with pytest.raises(ToolError, match="link"):
            call(tool, action=action, path="docs/secret.txt", content="owned")
    with pytest.raises(ToolError, match="link"):
        call(tool, action="create", path="docs/new.txt", content="owned")
    assert snapshot(tmp_path) == before
    assert (outside / "secret.txt").read_text() == "keep me"


def test_a_link_to_a_file_outside_is_not_followed(
    tool: FilesTool, tmp_path: Path, outside: Path
) -> None:
    workspace = tool.workspace(RUN)
    (workspace / "notes.txt").symlink_to(outside / "secret.txt")
    (workspace / "dangling.txt").symlink_to(outside / "not-yet.txt")
    before = snapshot(tmp_path)
    for action in ("create", "append", "delete"):
        for name in ("notes.txt", "dangling.txt"):
            with pytest.raises(ToolError, match=r"link|exists"):
                call(tool, action=action, path=name, content="owned")
    assert snapshot(tmp_path) == before
    assert not (outside / "not-yet.txt").exists()


def test_a_hard_link_to_a_file_outside_is_not_written(
    tool: FilesTool, tmp_path: Path, outside: Path
) -> None:
    workspace = tool.workspace(RUN)
    os.link(outside / "secret.txt", workspace / "notes.txt")
    with pytest.raises(ToolError, match="hard links"):
        call(tool, action="append", path="notes.txt", content="owned")
    assert (outside / "secret.txt").read_text() == "keep me"


def test_special_files_are_refused(tool: FilesTool) -> None:
    workspace = tool.workspace(RUN)
    os.mkfifo(workspace / "pipe")
    (workspace / "folder").mkdir()
    with pytest.raises(ToolError, match="regular file"):
        call(tool, action="append", path="pipe", content="x")  # must not block
    for action in ("append", "delete"):
        with pytest.raises(ToolError):
            call(tool, action=action, path="folder", content="x")
    assert (workspace / "folder").is_dir()


def test_sizes_are_capped(tool: FilesTool) -> None:
    call(tool, action="create", path="big.txt", content="x" * 90_000)
    for _ in range(MAX_FILE_BYTES // 90_000 - 1):
        call(tool, action="append", path="big.txt", content="x" * 90_000)
    with pytest.raises(ToolError, match="grow past"):
        call(tool, action="append", path="big.txt", content="x" * 90_000)
    with pytest.raises(ToolError, match="over 100,000 characters"):
        call(tool, action="create", path="huge.txt", content="x" * 100_001)
    assert not (tool.workspace(RUN) / "huge.txt").exists()


def test_each_run_has_its_own_workspace(tool: FilesTool) -> None:
    call(tool, action="create", path="a.txt", content="one")
    other = tool.invoke(
        {"action": "create", "path": "a.txt", "content": "two"},
        config=tool_config("run2", None),  # type: ignore[arg-type]
    )
    assert isinstance(other, EffectOutput)
    assert (tool.workspace(RUN) / "a.txt").read_text() == "one"
    assert (tool.workspace("run2") / "a.txt").read_text() == "two"
