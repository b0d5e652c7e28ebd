"""Every failure category is detected somewhere, findable by its member name.

A category counts as detected where the source *raises* it, not where it is
merely mentioned: a failure event or finding built with it, a tool error or
model error carrying it, or the category a classifier returns. The sites are
found from the source's syntax tree, so `grep -rn EXECUTION_TIMEOUT` leads to
where a timeout happens.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from agentlab.failures import FailureCategory

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [ROOT / "agentlab", ROOT / "tools", ROOT / "sandbox"]

RAISING_CALLS = frozenset({"failure", "_failure", "FailureEvent", "Finding"})
"""Calls that create a failure record from a category passed to them."""


def _category(node: ast.AST) -> str | None:
    """The member name when `node` is `FailureCategory.NAME`."""
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "FailureCategory"
    ):
        return node.attr
    return None


def _callee(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def sites_in(tree: ast.AST, where: str) -> dict[str, list[str]]:
    """Member name -> `where:line` of every place in `tree` that raises it."""
    sites: dict[str, list[str]] = defaultdict(list)
    for node in ast.walk(tree):
        found: list[str | None] = []
        if isinstance(node, ast.Call):
            if _callee(node) in RAISING_CALLS:
                found += [_category(a) for a in [*node.args, *(k.value for k in node.keywords)]]
            # Any call passing `category=FailureCategory.X`: a ToolError and its kin.
            found += [_category(k.value) for k in node.keywords if k.arg == "category"]
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            # `category = FailureCategory.X` on an exception class.
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "category" for t in targets):
                found.append(_category(node.value) if node.value else None)
        elif isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple):
            # A classifier's `return FailureCategory.X, message`.
            found.append(_category(node.value.elts[0]) if node.value.elts else None)
        for name in found:
            if name is not None:
                sites[name].append(f"{where}:{getattr(node, 'lineno', 0)}")
    return sites


def detection_sites() -> dict[str, list[str]]:
    """Member name -> `file:line` of every place in agentlab's sources that raises it."""
    sites: dict[str, list[str]] = defaultdict(list)
    for folder in SOURCES:
        for path in folder.rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for name, places in sites_in(tree, path.relative_to(ROOT).as_posix()).items():
                sites[name] += places
    return sites


def test_member_names_mirror_the_dotted_names() -> None:
    for member in FailureCategory:
        assert member.name == member.value.replace(".", "_").upper(), member


def test_every_category_has_a_detection_site() -> None:
    sites = detection_sites()
    undetected = [m.value for m in FailureCategory if not sites.get(m.name)]
    assert undetected == [], f"categories raised nowhere: {undetected}"


def test_mentions_alone_do_not_count() -> None:
    # The finder must tell raising from mentioning, or the test above proves nothing.
    mentions = """
MAP = {FailureCategory.GOAL_WRONG_ANSWER: 1}
if c == FailureCategory.GOAL_NO_ANSWER:
    print(FailureCategory.EXECUTION_TIMEOUT)
"""
    assert sites_in(ast.parse(mentions), "m") == {}
    raises = """
deps.failure(state, FailureCategory.GOAL_NO_ANSWER, "x", node="n")
ToolError("x", category=FailureCategory.EXECUTION_TIMEOUT)
class E(Exception):
    category = FailureCategory.MODEL_API_ERROR
def classify():
    return FailureCategory.EXECUTION_TOOL_ERROR, "m"
"""
    assert set(sites_in(ast.parse(raises), "r")) == {
        "GOAL_NO_ANSWER",
        "EXECUTION_TIMEOUT",
        "MODEL_API_ERROR",
        "EXECUTION_TOOL_ERROR",
    }
