"""The documents an answer rests on, read from the run's own search results.

A citation is made from a hit the local `search` tool returned during the run (a
`DocHit` in a tool call's typed result), never from the model's text: the answer only
chooses among them. When it names the path of some of the run's hits, those are its
citations; when it names none, every passage the run's searches returned is, since
the answer was read off them. Paths and headings come from the documents' folder and
names, so they are untrusted text: printers escape them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from agentlab.state import StepResult

SEARCH_TOOL = "search"


class Citation(BaseModel):
    """A passage of a document the answer rests on."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    path: str
    """The document's path relative to its corpus folder, `/`-separated."""
    heading: str
    """The heading of the passage's section, else the document's title."""
    corpus: str
    """The corpus folder the path is relative to (empty in runs recorded before it was kept)."""
    chunk: int
    """Which chunk of the document the search returned, counting from 0."""
    snippet: str
    """The passage's best sentences, as the search returned them."""
    named: bool
    """Whether the answer names this document's path (else the answer names none of the
    run's documents, and every passage its searches returned is listed)."""

    @property
    def location(self) -> str:
        """Where a person finds the document: the folder joined with the path."""
        return f"{self.corpus.rstrip('/')}/{self.path}" if self.corpus else self.path


def citations(calls: Iterable[StepResult], answer: str | None) -> list[Citation]:
    """The citations of `answer` among the local search hits of `calls` (a run's tool calls,
    in the order they were made); none without an answer."""
    if not answer:
        return []
    passages: dict[tuple[str, str, str], Citation] = {}
    for hit in _doc_hits(calls):
        heading = str(hit.heading or hit.title)
        key = (hit.corpus, hit.path, heading)
        if key not in passages:
            passages[key] = Citation(
                path=hit.path,
                heading=heading,
                corpus=hit.corpus,
                chunk=hit.chunk,
                snippet=hit.snippet,
                named=_names(answer, hit.path),
            )
    named = [c for c in passages.values() if c.named]
    return named or list(passages.values())


def _doc_hits(calls: Iterable[StepResult]) -> Iterable[Any]:
    from agentlab.tools.search.results import DocHit, SearchResults

    for call in calls:
        if call.tool != SEARCH_TOOL or call.status != "ok":
            continue
        try:
            results = SearchResults.model_validate(call.data)
        except ValidationError:
            continue  # a custom tool named `search`, or a result read back from elsewhere
        yield from (hit for hit in results.hits if isinstance(hit, DocHit) and _safe(hit.path))


def _safe(path: str) -> bool:
    # A path the index wrote is relative and plain; anything else did not come from it.
    parts = PurePosixPath(path).parts
    return bool(parts) and not path.startswith("/") and ".." not in parts


def _names(answer: str, path: str) -> bool:
    """Whether `answer` names `path` as a whole (`a.md` is not named by `data.md`)."""
    pattern = rf"(?<![\w/.-]){re.escape(path)}(?![\w/-])"
    return re.search(pattern, answer) is not None
