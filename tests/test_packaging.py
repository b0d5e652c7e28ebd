"""`pip install .` installs tools/, sandbox/ and examples/ inside the agentlab namespace only."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_maps_top_level_folders_into_agentlab(tmp_path: Path) -> None:
    # Built from a clean copy: setuptools reuses a checkout's build/ folder, which would
    # hide a package missing from pyproject's list.
    source = tmp_path / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git",
            ".venv",
            ".agentlab",
            "build",
            "*.egg-info",
            "__pycache__",
            ".*_cache",
            "tests",
            "docs",
            "benchmarks",
        ),
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    [wheel] = tmp_path.glob("agentlab-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for expected in (
        "agentlab/__init__.py",
        "agentlab/nodes/executor.py",
        "agentlab/tools/calculator.py",
        "agentlab/sandbox/__init__.py",
        "agentlab/sandbox/Dockerfile",
        "agentlab/examples/math/demo-cassette.jsonl",
    ):
        assert expected in names, f"{expected} missing from the wheel"
    # Every module of the three source folders, and every example's documents, is shipped:
    # a package missing from pyproject's list broke `import agentlab` in a core install.
    sources = {"agentlab": "agentlab", "tools": "agentlab/tools", "sandbox": "agentlab/sandbox"}
    for folder, installed in sources.items():
        for module in (ROOT / folder).rglob("*.py"):
            if "__pycache__" in module.parts:
                continue
            name = f"{installed}/{module.relative_to(ROOT / folder).as_posix()}"
            assert name in names, f"{name} missing from the wheel"
    for document in (ROOT / "examples").rglob("corpus/**/*.md"):
        name = f"agentlab/examples/{document.relative_to(ROOT / 'examples').as_posix()}"
        assert name in names, f"{name} missing from the wheel"
    top_level = {n.split("/")[0] for n in names if not n.startswith("agentlab-")}
    assert top_level == {"agentlab"}
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "agentlab = agentlab.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_editable_install_resolves_the_mapped_packages() -> None:
    import agentlab.sandbox
    import agentlab.tools

    assert Path(agentlab.tools.__file__).parent == ROOT / "tools"
    assert Path(agentlab.sandbox.__file__).parent == ROOT / "sandbox"
