"""What a search returns: typed hits from either backend, and the text the model reads."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from agentlab.tools.base import ToolOutput

SNIPPET_CHARS = 240
"""Longest snippet a hit carries; the model reads every hit's snippet, so keep them short."""


class WebHit(BaseModel):
    """One web result."""

    kind: Literal["web"] = "web"
    rank: int
    """1 for the best result."""
    title: str
    url: str
    snippet: str


class DocHit(BaseModel):
    """One passage of a document in the local corpus."""

    kind: Literal["doc"] = "doc"
    rank: int
    """1 for the best result."""
    title: str
    path: str
    """The document's path relative to the corpus root, with `/` separators: what to cite."""
    chunk: int
    """Which chunk of the document matched, counting from 0."""
    score: float
    """BM25 score; only comparable between hits of the same query."""
    snippet: str
    heading: str = ""
    """The heading of the section the passage lies in (Markdown); empty when it has none."""
    corpus: str = ""
    """The corpus folder `path` is relative to (resolved); empty in results recorded before
    agents could search folders of their own."""


Hit = Annotated[WebHit | DocHit, Field(discriminator="kind")]


class SearchResults(ToolOutput):
    """The hits of one query, best first."""

    query: str
    backend: Literal["web", "local"]
    hits: list[Hit] = Field(default_factory=list)
    cached: bool = False
    """True when web results came from the on-disk cache instead of the network."""

    def as_text(self) -> str:
        if not self.hits:
            where = "the web" if self.backend == "web" else "the documents"
            return f"no results in {where} for {self.query!r}; try fewer or different words"
        return "\n".join(_hit_text(hit) for hit in self.hits)


def _hit_text(hit: WebHit | DocHit) -> str:
    # No square brackets: terminals that render rich markup would swallow "[path]".
    if isinstance(hit, WebHit):
        return f"{hit.rank}. {hit.url} — {hit.title}\n   {hit.snippet}"
    return f"{hit.rank}. {hit.path} — {hit.title}\n   {hit.snippet}"


def clip_snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """`text` on one line, cut at a word boundary to at most `limit` characters."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1].rsplit(" ", 1)[0]
    return cut + "…"
