"""The `search` tool: one typed interface over the web backend and the local document index.

The backend is fixed when the tool is made (`SearchTool(backend=..., corpus=...)`, or
`SearchTool.from_config(config)` from the registry), so every call of one agent
searches the same place and an ablation that switches backends differs in that
one setting. `auto` picks the web when it can reach it and the local index when
not, deciding once, at the first search, so that building an agent never waits
on the network.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from agentlab import settings
from agentlab.errors import ConfigError, ToolError
from agentlab.failures import FailureCategory
from agentlab.tools.base import AgentTool
from agentlab.tools.search.index import LocalIndex
from agentlab.tools.search.results import SearchResults
from agentlab.tools.search.web import WebSearch

if TYPE_CHECKING:
    from agentlab.config import AgentConfig

TOOL_NAME = "search"
Backend = Literal["auto", "web", "local"]

DESCRIPTIONS: dict[str, str] = {
    "local": (
        "Search the local document collection (BM25 keyword search). Returns the best "
        "passages, each with the path of its document; cite the path of every document "
        "you answer from."
    ),
    "web": "Search the web. Returns the best pages: title, URL and a snippet.",
    "auto": (
        "Search the web, or the local document collection when offline. Returns the best "
        "results with their URL or document path and a snippet; cite the URL or path you "
        "answer from."
    ),
}

NETWORK_PROBE = ("duckduckgo.com", 443)
PROBE_TIMEOUT_S = 1.5


class SearchArgs(BaseModel):
    """Arguments of the `search` tool (the same for both backends, so plans stay valid)."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(
        min_length=1, max_length=400, description="Keywords or a question to search for."
    )
    max_results: int = Field(default=5, ge=1, le=20, description="How many results to return.")
    region: str | None = Field(
        default=None,
        description="Web only: a region such as us-en, uk-en, de-de; the local index ignores it.",
    )


def shipped_corpus() -> Path:
    """The documents agentlab ships for examples and tests (a fictional company's handbook)."""
    import agentlab.examples

    return Path(agentlab.examples.__file__).parent / "researcher" / "corpus"


_indexes: dict[Path, LocalIndex] = {}
_indexes_lock = threading.Lock()


def shared_index(corpus: Path) -> LocalIndex:
    """One `LocalIndex` per corpus folder and process, so many agents load it once."""
    key = corpus.expanduser().resolve()
    with _indexes_lock:
        if key not in _indexes:
            _indexes[key] = LocalIndex(key)
        return _indexes[key]


_network: bool | None = None
_network_lock = threading.Lock()


def network_available() -> bool:
    """Whether the web search service can be reached; probed once per process."""
    global _network
    with _network_lock:
        if _network is None:
            _network = _probe(NETWORK_PROBE, PROBE_TIMEOUT_S)
        return _network


def _probe(address: tuple[str, int], timeout_s: float) -> bool:
    reached = threading.Event()

    def connect() -> None:
        try:
            with socket.create_connection(address, timeout=timeout_s):
                reached.set()
        except OSError:
            pass

    # Name resolution ignores the socket timeout, so the whole probe runs in a thread
    # that is given up on after the timeout.
    threading.Thread(target=connect, name="agentlab-network-probe", daemon=True).start()
    return reached.wait(timeout_s + 0.5)


class SearchTool(AgentTool):
    """Search the web (ddgs) or a local folder of documents (BM25) and return typed hits."""

    name: str = TOOL_NAME
    description: str = DESCRIPTIONS["auto"]
    args_schema: type[BaseModel] = SearchArgs
    timeout_s: float = 20.0
    idempotent: bool = True
    direct_answer: bool = False  # hits are read, then answered from
    external_output: bool = True  # documents and web pages: screened, shown as data

    backend: Backend = "auto"
    """`web`, `local`, or `auto`: the web when it can be reached, else local."""
    corpus: tuple[Path, ...] = ()
    """Folders the local backend searches (one path is read as one folder); empty: the
    corpus shipped with agentlab."""
    web: WebSearch | None = Field(default=None, exclude=True)
    """The web backend; None makes the default ddgs one on first use."""

    _resolved: Literal["web", "local"] | None = PrivateAttr(default=None)
    _index_checked: bool = PrivateAttr(default=False)

    def __init__(self, **data: Any) -> None:
        data.setdefault("description", DESCRIPTIONS[data.get("backend", "auto")])
        super().__init__(**data)
        for folder in self.corpus:
            if not folder.expanduser().is_dir():
                raise ConfigError(f"search corpus {folder} does not exist or is not a folder")

    @field_validator("corpus", mode="before")
    @classmethod
    def _one_folder(cls, value: Any) -> Any:
        if value is None:
            return ()
        return (value,) if isinstance(value, str | PurePath) else value

    @classmethod
    def from_config(cls, config: AgentConfig) -> SearchTool:
        """The tool an agent with `config` gets from the registry: `search_corpus`, else
        `AGENTLAB_CORPUS`; a named corpus means the local backend unless `search_backend`
        says otherwise."""
        corpus = config_corpus(config)
        return cls(backend=config_backend(config), corpus=corpus)

    def folders(self) -> tuple[Path, ...]:
        """The folders the local backend reads, resolved."""
        return corpus_folders(self.corpus)

    def resolved_backend(self) -> Literal["web", "local"]:
        """The backend calls go to; `auto` is decided on first use and then kept."""
        if self._resolved is None:
            if self.backend == "auto":
                self._resolved = "web" if network_available() else "local"
            else:
                self._resolved = self.backend
        return self._resolved

    def local_indexes(self) -> list[LocalIndex]:
        """The index of each corpus folder (shared with other tools on the same folder)."""
        return [shared_index(folder) for folder in self.folders()]

    def _run(
        self, query: str, max_results: int = 5, region: str | None = None, **_: Any
    ) -> SearchResults:
        if self.resolved_backend() == "web":
            if self.web is None:
                self.web = WebSearch()
            return self.web.search(query, max_results=max_results, region=region)
        return self._search_local(query, max_results)

    def _search_local(self, query: str, max_results: int) -> SearchResults:
        try:
            indexes = self.local_indexes()
            if not self._index_checked:
                # Each new tool re-checks the files once, so an edit shows up in the next run.
                for index in indexes:
                    index.open()
                self._index_checked = True
            found = [hit for index in indexes for hit in index.search(query, max_results)]
        except ConfigError as exc:
            raise ToolError(
                f"the document index is unavailable: {exc}",
                category=FailureCategory.EXECUTION_TOOL_ERROR,
                tool_name=TOOL_NAME,
            ) from None
        if len(indexes) > 1:
            # Each folder ranks its own passages; merged by score, an approximation, since
            # BM25 weighs a word by how rare it is in its own folder.
            found = sorted(found, key=lambda hit: -hit.score)[:max_results]
        hits = [hit.model_copy(update={"rank": rank}) for rank, hit in enumerate(found, 1)]
        return SearchResults(query=query, backend="local", hits=hits)


def corpus_folders(corpus: tuple[Path, ...]) -> tuple[Path, ...]:
    """The folders a local search over `corpus` reads, resolved; the shipped one when empty."""
    return tuple(folder.expanduser().resolve() for folder in corpus or (shipped_corpus(),))


def config_corpus(config: AgentConfig) -> tuple[Path, ...]:
    """The folders `config`'s search reads: `search_corpus`, else `AGENTLAB_CORPUS`; empty
    means the shipped corpus."""
    return config.search_corpus or settings.current().corpus


def config_backend(config: AgentConfig) -> Backend:
    """The backend `config`'s search uses: `search_backend`, else local when a corpus is
    named and `auto` when not."""
    if config.search_backend is not None:
        return config.search_backend
    return "local" if config_corpus(config) else "auto"
