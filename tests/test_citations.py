"""Citations are read off the run's own search results: the answer chooses among them, and
nothing the model wrote becomes a citation by itself."""

from __future__ import annotations

from typing import Any

from agentlab.citations import citations
from agentlab.state import StepResult


def hit(path: str, heading: str = "", rank: int = 1, corpus: str = "/docs") -> dict[str, Any]:
    return {
        "kind": "doc",
        "rank": rank,
        "title": f"title of {path}",
        "path": path,
        "chunk": 0,
        "score": 1.0,
        "snippet": "text",
        "heading": heading,
        "corpus": corpus,
    }


def search(*hits: dict[str, Any], tool: str = "search", status: str = "ok") -> StepResult:
    data = {"query": "q", "backend": "local", "hits": list(hits), "cached": False}
    return StepResult(step_id="s1", tool=tool, args={}, status=status, output="", data=data)  # type: ignore[arg-type]


def test_the_documents_the_answer_names_are_its_citations() -> None:
    calls = [search(hit("a.md", "Intro"), hit("data.md", rank=2)), search(hit("b/c.md"))]
    [cited] = citations(calls, "It is so (a.md).")
    assert (cited.path, cited.heading, cited.named) == ("a.md", "Intro", True)
    assert cited.location == "/docs/a.md"
    named = citations(calls, "See data.md and b/c.md.")
    assert [c.path for c in named] == ["data.md", "b/c.md"], "a.md is not named by data.md"
    assert named[0].heading == "title of data.md", "no heading: the document's title"


def test_an_answer_naming_none_of_them_lists_every_passage_read() -> None:
    calls = [search(hit("a.md", "One"), hit("a.md", "One"), hit("a.md", "Two"))]
    listed = citations(calls, "The answer (made/up.md, ../../etc/passwd).")
    assert [(c.path, c.heading, c.named) for c in listed] == [
        ("a.md", "One", False),
        ("a.md", "Two", False),
    ]
    assert citations(calls, None) == [] and citations(calls, "") == []


def test_only_the_runs_good_local_search_results_count() -> None:
    calls = [
        search(hit("a.md"), status="error"),
        search(hit("b.md"), tool="other"),
        StepResult(step_id="s3", tool="search", args={}, status="ok", output="", data="junk"),
        search(hit("../outside.md"), hit("/etc/passwd")),
        search({"kind": "web", "rank": 1, "title": "t", "url": "https://x", "snippet": "s"}),
    ]
    assert citations(calls, "a.md b.md ../outside.md /etc/passwd https://x") == []
