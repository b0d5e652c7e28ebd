"""agentlab.settings: every AGENTLAB_* variable is read there, when asked."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

from agentlab import settings
from agentlab.llm.spec import default_model_spec
from agentlab.llm.weights import models_dir

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("agentlab", "tools", "sandbox")
ENVIRONMENT_GETTERS = ("os.environ.get", "os.getenv")


def test_read_at_call_time(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AGENTLAB_MODELS_DIR", raising=False)
    monkeypatch.setenv("AGENTLAB_HOME", str(tmp_path / "one"))
    assert settings.home() == tmp_path / "one"
    monkeypatch.setenv("AGENTLAB_HOME", str(tmp_path / "two"))
    assert settings.runs_dir() == tmp_path / "two" / "runs"
    # Model weights are cached once per user, not per project home.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert settings.current().models_dir == tmp_path / "cache" / "agentlab" / "models"
    assert models_dir() == tmp_path / "cache" / "agentlab" / "models"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/is/ignored")
    assert models_dir() == Path.home() / ".cache" / "agentlab" / "models"
    monkeypatch.setenv("AGENTLAB_MODEL", "replay:x.jsonl")
    assert default_model_spec() == "replay:x.jsonl"


def test_blank_is_unset_and_lists_split() -> None:
    read = settings.current(
        {
            "AGENTLAB_HOME": "  ",
            "AGENTLAB_USER": " ",
            "AGENTLAB_TOOLS": "a:b, ,c:d ",
            "AGENTLAB_MODELS_DIR": "/m",
        }
    )
    assert read.home == settings.DEFAULT_HOME
    assert read.user is None
    assert read.tools == ("a:b", "c:d")
    assert read.models_dir == Path("/m")
    assert read.db is None and read.embedder is None and read.sandbox_image is None
    assert read.corpus == ()


def test_corpus_folders_split_on_the_path_separator() -> None:
    folders = f" docs {os.pathsep}{os.pathsep} ~/wiki{os.pathsep}"
    read = settings.current({"AGENTLAB_CORPUS": folders})
    assert read.corpus == (Path("docs"), Path.home() / "wiki")


def _environment_reads(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, what) for every `os.environ[...]`, `os.environ.get(...)` and `os.getenv(...)`."""
    reads = (
        node
        for node in ast.walk(tree)
        if (isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ")
        or (isinstance(node, ast.Call) and ast.unparse(node.func) in ENVIRONMENT_GETTERS)
    )
    return [(node.lineno, ast.unparse(node)) for node in reads]


def test_no_agentlab_variable_is_read_outside_settings() -> None:
    offenders = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == ROOT / "agentlab" / "settings.py":
                continue
            for line, read in _environ_reads_of(path):
                offenders.append(f"{path.relative_to(ROOT)}:{line}: {read}")
    assert offenders == [], "read AGENTLAB_* through agentlab.settings:\n" + "\n".join(offenders)


def _environ_reads_of(path: Path) -> list[tuple[int, str]]:
    # A read whose key is not a literal could be any variable: it must be a literal
    # naming something other than an AGENTLAB_* setting.
    reads = _environment_reads(ast.parse(path.read_text(encoding="utf-8")))
    return [
        (line, text)
        for line, text in reads
        if "AGENTLAB_" in text or not any(q in text for q in ("'", '"'))
    ]
