"""The web backend at its narrowest seam: the ddgs client replaced by a fake that returns result
dicts, raises ddgs's own exceptions, or hangs. No test here reaches the network."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ddgs.exceptions import DDGSException, RatelimitException, TimeoutException

from agentlab.errors import ToolError
from agentlab.failures import FailureCategory
from agentlab.tools.search import WebHit, WebSearch
from agentlab.tools.search import web as web_module

# The shape ddgs 9's DDGS.text() returns (title, href, body), the last without a URL.
RESULTS: list[dict[str, Any]] = [
    {
        "title": "Anemometer - Wikipedia",
        "href": "https://en.wikipedia.org/wiki/Anemometer",
        "body": "In meteorology, an anemometer is a device that measures wind speed and direction. "
        * 5,
    },
    {
        "title": "How  ultrasonic\nanemometers work",
        "href": "https://example.org/ultrasonic",
        "body": "Ultrasonic anemometers measure the time of flight of sound pulses.",
    },
    {"title": "no link", "href": "", "body": "dropped: a hit needs a URL"},
]


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any socket connection or real ddgs client in these tests is a bug."""

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("a web-search test tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(web_module, "ddgs_client", refuse)


class FakeClient:
    """Plays one scripted outcome per `text()` call: a list of dicts, an exception, or a hang."""

    def __init__(self, *outcomes: Any) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.timeouts: list[int] = []
        self.release = threading.Event()

    def factory(self, timeout_s: int) -> FakeClient:
        self.timeouts.append(timeout_s)
        return self

    def text(self, query: str, **kwargs: Any) -> list[dict[str, Any]]:
        self.calls.append((query, kwargs))
        outcome = self.outcomes.pop(0)
        if outcome == "hang":
            self.release.wait(30)
            return []
        if isinstance(outcome, BaseException):
            raise outcome
        result: list[dict[str, Any]] = outcome
        return result


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make(tmp_path: Path, sleeps: list[float]) -> Iterator[Any]:
    clients: list[FakeClient] = []

    def build(*outcomes: Any, **options: Any) -> tuple[WebSearch, FakeClient]:
        client = FakeClient(*outcomes)
        clients.append(client)
        search = WebSearch(
            client_factory=client.factory,
            cache_dir=tmp_path / "cache",
            sleep=sleeps.append,
            **options,
        )
        return search, client

    yield build
    for client in clients:
        client.release.set()


def test_results_are_typed_ranked_and_clipped(make: Any) -> None:
    search, client = make(RESULTS)
    results = search.search("anemometer", max_results=5, region="uk-en")
    assert client.calls == [("anemometer", {"region": "uk-en", "max_results": 5})]
    assert [type(h) for h in results.hits] == [WebHit, WebHit]
    first, second = results.hits
    assert (first.rank, first.url) == (1, "https://en.wikipedia.org/wiki/Anemometer")
    assert len(first.snippet) <= 240 and first.snippet.endswith("…")
    assert (second.rank, second.title) == (2, "How ultrasonic anemometers work")
    assert results.backend == "web" and not results.cached
    assert results.as_text().startswith("1. https://en.wikipedia.org/wiki/Anemometer — Anemometer")


def test_max_results_caps_the_hits_and_region_defaults(make: Any) -> None:
    search, client = make(RESULTS)
    assert [h.rank for h in search.search("anemometer", max_results=1).hits] == [1]
    assert client.calls[0][1] == {"region": "us-en", "max_results": 1}


def test_rate_limit_is_retried_with_backoff(make: Any, sleeps: list[float]) -> None:
    search, client = make(RatelimitException("202 Ratelimit"), RESULTS)
    results = search.search("anemometer")
    assert len(client.calls) == 2
    assert len(results.hits) == 2
    assert len(sleeps) == 1 and 0.8 <= sleeps[0] <= 1.2


def test_persistent_rate_limit_gives_a_clear_tool_error(make: Any, sleeps: list[float]) -> None:
    search, client = make(*[RatelimitException("202 Ratelimit")] * 3)
    with pytest.raises(ToolError) as raised:
        search.search("anemometer")
    assert raised.value.category is FailureCategory.EXECUTION_TOOL_ERROR
    assert "rate-limiting" in raised.value.message and "3 times" in raised.value.message
    assert len(client.calls) == 3
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0]  # exponential backoff


def test_backoff_never_sleeps_past_the_deadline(make: Any, sleeps: list[float]) -> None:
    search, client = make(RatelimitException("429"), deadline_s=2.0, backoff_s=5.0)
    with pytest.raises(ToolError, match="rate-limiting"):
        search.search("anemometer")
    assert sleeps == [] and len(client.calls) == 1


def test_a_hung_client_is_abandoned_at_the_deadline(make: Any) -> None:
    search, client = make("hang", deadline_s=0.5)
    started = time.monotonic()
    with pytest.raises(ToolError) as raised:
        search.search("anemometer")
    assert time.monotonic() - started < 2.0
    assert raised.value.category is FailureCategory.EXECUTION_TIMEOUT
    assert "no answer within 0.5 s" in raised.value.message
    assert client.timeouts == [1]  # the client's own network timeout is set from the deadline


def test_ddgs_timeout_is_a_timeout(make: Any) -> None:
    search, _ = make(TimeoutException("timed out"))
    with pytest.raises(ToolError) as raised:
        search.search("anemometer")
    assert raised.value.category is FailureCategory.EXECUTION_TIMEOUT


@pytest.mark.parametrize(
    "error",
    [DDGSException("ConnectError: connection refused"), OSError("Network is unreachable")],
)
def test_network_errors_become_tool_errors(make: Any, error: Exception) -> None:
    search, _ = make(error)
    with pytest.raises(ToolError) as raised:
        search.search("anemometer")
    assert raised.value.category is FailureCategory.EXECUTION_TOOL_ERROR
    assert raised.value.message.startswith("the web search failed (")
    assert str(error) in raised.value.message


def test_no_results_is_empty_and_not_cached(make: Any) -> None:
    search, client = make(DDGSException("No results found."), RESULTS)
    assert search.search("anemometer").hits == []
    assert len(search.search("anemometer").hits) == 2
    assert len(client.calls) == 2


def test_repeated_query_comes_from_the_cache(make: Any) -> None:
    search, client = make(RESULTS)
    first = search.search("Anemometer  types")
    again = search.search("anemometer types")  # same query up to case and spacing
    assert len(client.calls) == 1
    assert again.cached and again.hits == first.hits


def test_cache_key_includes_region_and_size(make: Any) -> None:
    search, client = make(RESULTS, RESULTS, RESULTS)
    search.search("anemometer")
    search.search("anemometer", region="de-de")
    search.search("anemometer", max_results=2)
    assert len(client.calls) == 3


def test_cache_entries_expire(make: Any) -> None:
    search, client = make(RESULTS, RESULTS, cache_ttl_s=60)
    search.search("anemometer")
    [entry] = search.cache_folder.glob("*.json")
    record = json.loads(entry.read_text())
    entry.write_text(json.dumps({**record, "time": record["time"] - 61}))
    assert not search.search("anemometer").cached
    assert len(client.calls) == 2


def test_default_cache_lives_under_agentlab_home() -> None:
    home = Path(os.environ["AGENTLAB_HOME"])
    assert WebSearch().cache_folder == home / "cache" / "web-search"
