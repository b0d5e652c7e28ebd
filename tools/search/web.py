"""The web backend: ddgs metasearch with a deadline, rate-limit backoff and an on-disk cache.

The ddgs client is made by `client_factory`, the one seam tests replace: a fake
client returns recorded result dicts, raises ddgs's `RatelimitException`, or
hangs. Every call runs in a daemon thread and is abandoned at the deadline, so a
hung connection becomes a clear error instead of a stuck agent.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from agentlab import settings
from agentlab.errors import ToolError
from agentlab.failures import FailureCategory
from agentlab.tools.search.results import SearchResults, WebHit, clip_snippet

DEFAULT_REGION = "us-en"
DEFAULT_DEADLINE_S = 12.0
DEFAULT_CACHE_TTL_S = 24 * 3600.0
MAX_CACHE_ENTRIES = 2_000

# What the model reads when the web backend fails; one template per outcome.
RATE_LIMITED = (
    "the web search service is rate-limiting us (tried {attempts} times); wait a minute "
    "before searching again, or answer from what you already have"
)
TIMED_OUT = (
    "the web search gave no answer within {seconds:g} s; the network may be down. Try "
    "once more later, or answer from what you already have"
)
FAILED = "the web search failed ({detail}); check the network connection or try other words"


class TextSearchClient(Protocol):
    """The part of `ddgs.DDGS` the backend uses."""

    def text(self, query: str, **kwargs: Any) -> list[dict[str, Any]]: ...


ClientFactory = Callable[[int], TextSearchClient]
"""Makes a client whose own network timeout is the given number of seconds."""


def ddgs_client(timeout_s: int) -> TextSearchClient:
    """The real client (imported on first use: ddgs takes a while to import)."""
    from ddgs import DDGS

    client: TextSearchClient = DDGS(timeout=timeout_s)
    return client


class WebSearch:
    """Searches the web through a ddgs client; results are cached on disk by query."""

    def __init__(
        self,
        *,
        client_factory: ClientFactory = ddgs_client,
        deadline_s: float = DEFAULT_DEADLINE_S,
        max_retries: int = 2,
        backoff_s: float = 1.0,
        cache_dir: str | Path | None = None,
        cache_ttl_s: float = DEFAULT_CACHE_TTL_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client_factory = client_factory
        self.deadline_s = deadline_s
        """Seconds one search may take, retries and backoff included."""
        self.max_retries = max_retries
        """Extra attempts after a rate-limit answer."""
        self.backoff_s = backoff_s
        """First wait after a rate-limit answer; doubled for each later attempt."""
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.cache_ttl_s = cache_ttl_s
        self.sleep = sleep

    @property
    def cache_folder(self) -> Path:
        # Resolved per call, not at construction, so AGENTLAB_HOME set later still counts.
        return self.cache_dir or settings.home() / "cache" / "web-search"

    def search(
        self, query: str, *, max_results: int = 5, region: str | None = None
    ) -> SearchResults:
        """Typed results for `query`, from the cache when it has them."""
        region = region or DEFAULT_REGION
        key = _cache_key(query, region, max_results)
        hits = self._cached(key)
        if hits is not None:
            return SearchResults(query=query, backend="web", hits=hits, cached=True)
        raw = self._fetch(query, region=region, max_results=max_results)
        hits = _hits(raw, max_results)
        if hits:
            # ddgs answers "no results" when every engine failed or refused us, so an empty
            # answer may be transient: it is never cached.
            self._store(key, query, region, hits)
        return SearchResults(query=query, backend="web", hits=hits)

    def _fetch(self, query: str, *, region: str, max_results: int) -> list[dict[str, Any]]:
        from ddgs.exceptions import DDGSException, RatelimitException, TimeoutException

        deadline = time.monotonic() + self.deadline_s
        attempts = 0
        while True:
            attempts += 1
            remaining = deadline - time.monotonic()
            try:
                return self._call(query, region, max_results, remaining)
            except RatelimitException:
                wait = self.backoff_s * 2 ** (attempts - 1) * random.uniform(0.8, 1.2)
                out_of_time = time.monotonic() + wait >= deadline
                if attempts > self.max_retries or out_of_time:
                    raise ToolError(
                        RATE_LIMITED.format(attempts=attempts), tool_name="search"
                    ) from None
                self.sleep(wait)
            except (TimeoutException, TimeoutError):
                raise ToolError(
                    TIMED_OUT.format(seconds=self.deadline_s),
                    category=FailureCategory.EXECUTION_TIMEOUT,
                    tool_name="search",
                ) from None
            except DDGSException as exc:
                # ddgs reports an empty answer as an exception; for us it is zero hits.
                if "no results" in str(exc).lower():
                    return []
                raise ToolError(FAILED.format(detail=_brief(exc)), tool_name="search") from None
            except Exception as exc:
                # The HTTP layer under ddgs raises its own exception types (connection
                # refused, DNS, TLS); whatever it is, the model gets one clear message.
                raise ToolError(FAILED.format(detail=_brief(exc)), tool_name="search") from None

    def _call(
        self, query: str, region: str, max_results: int, remaining: float
    ) -> list[dict[str, Any]]:
        """One client call in a daemon thread, abandoned when `remaining` seconds are up."""
        if remaining <= 0:
            raise TimeoutError
        outcome: dict[str, Any] = {}

        def work() -> None:
            try:
                client = self.client_factory(max(1, int(remaining)))
                outcome["value"] = client.text(query, region=region, max_results=max_results)
            except BaseException as exc:
                outcome["error"] = exc

        # A daemon thread, not a pool: a hung call must not keep the process from exiting.
        thread = threading.Thread(target=work, name="agentlab-web-search", daemon=True)
        thread.start()
        thread.join(remaining)
        if thread.is_alive():
            raise TimeoutError
        if "error" in outcome:
            raise outcome["error"]
        value: list[dict[str, Any]] = outcome.get("value") or []
        return value

    def _cached(self, key: str) -> list[WebHit] | None:
        path = self.cache_folder / f"{key}.json"
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            if time.time() - float(entry["time"]) > self.cache_ttl_s:
                return None
            return [WebHit.model_validate(hit) for hit in entry["hits"]]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _store(self, key: str, query: str, region: str, hits: list[WebHit]) -> None:
        folder = self.cache_folder
        entry = {
            "time": time.time(),
            "query": query,
            "region": region,
            "hits": [hit.model_dump() for hit in hits],
        }
        try:
            folder.mkdir(parents=True, exist_ok=True)
            partial = folder / f"{key}.{os.getpid()}-{threading.get_ident()}.part"
            partial.write_text(json.dumps(entry, ensure_ascii=False), encoding="utf-8")
            partial.replace(folder / f"{key}.json")
            _prune(folder)
        except OSError:
            pass  # a cache that cannot be written only costs a repeated request


def _cache_key(query: str, region: str, max_results: int) -> str:
    normalised = " ".join(query.lower().split())
    return hashlib.sha256(json.dumps([normalised, region, max_results]).encode()).hexdigest()[:32]


def _hits(raw: list[dict[str, Any]], max_results: int) -> list[WebHit]:
    hits: list[WebHit] = []
    for item in raw:
        url = str(item.get("href") or item.get("url") or "")
        if not url:
            continue
        hits.append(
            WebHit(
                rank=len(hits) + 1,
                title=" ".join(str(item.get("title") or url).split()),
                url=url,
                snippet=clip_snippet(str(item.get("body") or "")),
            )
        )
        if len(hits) == max_results:
            break
    return hits


def _prune(folder: Path) -> None:
    """Keep the cache small: drop the oldest entries past `MAX_CACHE_ENTRIES`."""
    entries = list(folder.glob("*.json"))
    if len(entries) <= MAX_CACHE_ENTRIES:
        return
    entries.sort(key=lambda p: p.stat().st_mtime)
    for path in entries[: len(entries) - MAX_CACHE_ENTRIES]:
        path.unlink(missing_ok=True)


def _brief(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:199] + "…"
