"""The `search` tool inside agents: schema, registry and config wiring, `auto`, and how its
failures reach the trace under the taxonomy."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest
from ddgs.exceptions import RatelimitException
from pydantic import ValidationError
from support import finish, of_type, plan, step, write_cassette

from agentlab import AgentConfig, build_agent
from agentlab.errors import ConfigError
from agentlab.events import FailureEvent, ToolCall
from agentlab.llm import ReplayChatModel
from agentlab.tools.registry import builtin_tool, default_registry
from agentlab.tools.search import SearchArgs, SearchResults, SearchTool, WebSearch
from agentlab.tools.search import tool as tool_module
from agentlab.trace import MemoryTraceSink, Tracer

RECORDED = [{"title": "Tern", "href": "https://example.org/tern", "body": "A seabird."}]


class Scripted:
    """A ddgs stand-in: returns `outcome`, raises it, or hangs when it is "hang"."""

    def __init__(self, outcome: Any) -> None:
        self.outcome = outcome
        self.release = threading.Event()

    def factory(self, timeout_s: int) -> Scripted:
        return self

    def text(self, query: str, **kwargs: Any) -> list[dict[str, Any]]:
        if self.outcome == "hang":
            self.release.wait(30)
            return []
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        result: list[dict[str, Any]] = self.outcome
        return result


def web_tool(tmp_path: Path, client: Scripted, **options: Any) -> SearchTool:
    web = WebSearch(
        client_factory=client.factory,
        cache_dir=tmp_path / "cache",
        sleep=lambda s: None,
        **options,
    )
    return SearchTool(backend="web", web=web)


def test_args_schema_is_one_interface_for_both_backends() -> None:
    schema = SearchTool(backend="local").get_input_schema().model_json_schema()
    assert schema["required"] == ["query"]
    assert set(schema["properties"]) == {"query", "max_results", "region"}
    with pytest.raises(ValidationError):
        SearchArgs.model_validate({"query": "x", "backend": "web"})
    with pytest.raises(ValidationError):
        SearchArgs.model_validate({"query": "x", "max_results": 0})
    web = SearchTool(backend="web").get_input_schema().model_json_schema()
    assert web == schema


def test_description_says_what_each_backend_searches() -> None:
    assert "cite the path" in SearchTool(backend="local").description
    assert "web" in SearchTool(backend="web").description.lower()


def test_registry_builds_search_from_the_agent_config() -> None:
    assert "search" in default_registry()
    assert builtin_tool("search", AgentConfig(search_backend="local")).backend == "local"  # type: ignore[attr-defined]
    assert builtin_tool("search").backend == "auto"  # type: ignore[attr-defined]
    with pytest.raises(ValidationError):
        AgentConfig(search_backend="bing")  # type: ignore[arg-type]


def test_agent_config_search_backend_reaches_the_agents_tool(tmp_path: Path) -> None:
    cassette = write_cassette(
        tmp_path / "c.jsonl",
        plan(step("s1", "search", query="Skiff warranty")),
        finish("two years (support/warranty.md)"),
    )
    sink = MemoryTraceSink()
    graph = build_agent(
        AgentConfig(tools=("search",), search_backend="local"),
        model=ReplayChatModel(path=str(cassette)),
        trace=Tracer(sink),
    )
    state = graph.invoke({"task": "How long is the Skiff warranty?"})
    assert state["status"] == "answered"
    [call] = of_type(sink.events, ToolCall)
    assert call.data["backend"] == "local"
    assert call.data["hits"][0]["path"] == "support/warranty.md"


@pytest.mark.parametrize(("online", "expected"), [(False, "local"), (True, "web")])
def test_auto_picks_the_web_only_when_it_is_reachable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, online: bool, expected: str
) -> None:
    probes: list[int] = []

    def probe() -> bool:
        probes.append(1)
        return online

    monkeypatch.setattr(tool_module, "network_available", probe)
    client = Scripted(RECORDED)
    tool = SearchTool(
        web=WebSearch(client_factory=client.factory, cache_dir=tmp_path / "cache"),
    )
    assert probes == [], "building the tool never probes the network"
    first: SearchResults = tool.invoke({"query": "tern"})
    second: SearchResults = tool.invoke({"query": "tern station"})
    assert (first.backend, second.backend) == (expected, expected)
    assert probes == [1], "auto is decided once"


def test_local_tool_on_another_corpus(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("# Notes\n\nThe spinnaker is blue.\n")
    result: SearchResults = SearchTool(backend="local", corpus=tmp_path).invoke(
        {"query": "spinnaker colour", "region": "de-de"}  # region is ignored locally
    )
    assert [h.path for h in result.hits] == ["notes.md"]  # type: ignore[union-attr]


def test_missing_corpus_is_refused_when_the_tool_is_made(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        SearchTool(backend="local", corpus=tmp_path / "nowhere")


def run_one_search(tmp_path: Path, tool: SearchTool) -> list[dict[str, Any]]:
    cassette = write_cassette(
        tmp_path / "c.jsonl", plan(step("s1", "search", query="tern")), finish("no answer")
    )
    sink = MemoryTraceSink()
    graph = build_agent(
        AgentConfig(validator=True),
        model=ReplayChatModel(path=str(cassette)),
        tools=[tool],
        trace=Tracer(sink),
    )
    graph.invoke({"task": "find terns"})
    return sink.events


@pytest.mark.parametrize(
    ("outcome", "category", "message"),
    [
        (RatelimitException("202 Ratelimit"), "execution.tool_error", "rate-limiting"),
        (OSError("Network is unreachable"), "execution.tool_error", "Network is unreachable"),
        ("hang", "execution.timeout", "no answer within 0.3 s"),
    ],
)
def test_web_failures_reach_the_trace_with_their_category(
    tmp_path: Path, outcome: Any, category: str, message: str
) -> None:
    client = Scripted(outcome)
    try:
        events = run_one_search(tmp_path, web_tool(tmp_path, client, deadline_s=0.3))
    finally:
        client.release.set()
    [failure] = of_type(events, FailureEvent)
    assert failure.category == category
    assert failure.tool == "search"
    [call] = of_type(events, ToolCall)
    assert call.status == "error"
    assert call.output.startswith("search failed: ")
    assert message in call.output


def test_web_results_reach_the_trace_typed(tmp_path: Path) -> None:
    events = run_one_search(tmp_path, web_tool(tmp_path, Scripted(RECORDED)))
    [call] = of_type(events, ToolCall)
    assert call.status == "ok"
    assert call.data["hits"] == [
        {
            "kind": "web",
            "rank": 1,
            "title": "Tern",
            "url": "https://example.org/tern",
            "snippet": "A seabird.",
        }
    ]
    assert call.output == "1. https://example.org/tern — Tern\n   A seabird."


def test_empty_corpus_is_a_tool_error_the_model_can_read(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    events = run_one_search(tmp_path, SearchTool(backend="local", corpus=tmp_path / "empty"))
    [call] = of_type(events, ToolCall)
    assert call.status == "error"
    assert "the document index is unavailable: nothing to index" in call.output


def test_a_named_corpus_means_the_local_backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    mine = AgentConfig(search_corpus=str(tmp_path / "a"))
    assert mine.search_corpus == (tmp_path / "a",)
    tool = builtin_tool("search", mine)
    assert (tool.backend, tool.corpus) == ("local", (tmp_path / "a",))  # type: ignore[attr-defined]
    web = builtin_tool("search", mine.model_copy(update={"search_backend": "web"}))
    assert web.backend == "web"  # type: ignore[attr-defined]
    monkeypatch.setenv("AGENTLAB_CORPUS", f"{tmp_path / 'a'}{os.pathsep}{tmp_path / 'b'}")
    from_env = builtin_tool("search", AgentConfig())
    assert from_env.backend == "local"  # type: ignore[attr-defined]
    assert from_env.corpus == (tmp_path / "a", tmp_path / "b")  # type: ignore[attr-defined]
    assert builtin_tool("search", mine).corpus == (tmp_path / "a",)  # type: ignore[attr-defined]


def test_several_folders_are_searched_together(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "jib.md").write_text("# Jib\n\nThe jib is a small headsail.\n")
    (tmp_path / "b" / "main.md").write_text("# Main\n\nThe mainsail is the big sail.\n")
    tool = SearchTool(backend="local", corpus=(tmp_path / "a", tmp_path / "b"))
    result: SearchResults = tool.invoke({"query": "jib sail", "max_results": 5})
    hits = [(h.corpus, h.path) for h in result.hits]  # type: ignore[union-attr]
    assert sorted(hits) == [(str(tmp_path / "a"), "jib.md"), (str(tmp_path / "b"), "main.md")]
    assert [h.rank for h in result.hits] == [1, 2]
    scores = [h.score for h in result.hits]  # type: ignore[union-attr]
    assert scores == sorted(scores, reverse=True), "merged by score"
    one: SearchResults = tool.invoke({"query": "jib sail", "max_results": 1})
    assert len(one.hits) == 1
