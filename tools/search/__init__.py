"""The `search` tool: web metasearch (ddgs) or a BM25 index over a folder of documents.

`SearchTool` is what agents use; `LocalIndex` and `WebSearch` are the two backends,
usable on their own (the CLI's `agentlab index build` and `agentlab search` do).
"""

from agentlab.tools.search.corpus import SkippedFile, SkipReason
from agentlab.tools.search.index import IndexProgress, IndexStatus, LocalIndex, index_location
from agentlab.tools.search.results import DocHit, SearchResults, WebHit
from agentlab.tools.search.tool import (
    Backend,
    SearchArgs,
    SearchTool,
    network_available,
    shared_index,
    shipped_corpus,
)
from agentlab.tools.search.web import WebSearch

__all__ = [
    "Backend",
    "DocHit",
    "IndexProgress",
    "IndexStatus",
    "LocalIndex",
    "SearchArgs",
    "SearchResults",
    "SearchTool",
    "SkipReason",
    "SkippedFile",
    "WebHit",
    "WebSearch",
    "index_location",
    "network_available",
    "shared_index",
    "shipped_corpus",
]
