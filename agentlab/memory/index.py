"""In-process search indexes the SQLite store keeps in step with its tables.

`VectorIndex` holds each namespace's unit vectors in one float32 matrix, so a
query is one matrix-vector product (100k memories: ~150 MB scanned, a few ms).
`LexicalIndex` is the fallback when no embedder is installed: BM25 over words.
Both are keyed by (namespace text, key) and answer `search(prefix, query, n)`.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt
from threadpoolctl import ThreadpoolController

from agentlab.memory.minilm import Vectors

Key = tuple[str, str]
"""(namespace as stored, key)"""

_BLAS = ThreadpoolController()
_WORD = re.compile(r"[a-z0-9]+")
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "did",
        "do",
        "does",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "is",
        "it",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "so",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "this",
        "to",
        "was",
        "we",
        "were",
        "what",
        "when",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
    ]
)


def words(text: str) -> list[str]:
    """Lower-case word tokens without stopwords; a trailing plural `s` is dropped."""
    out = []
    for word in _WORD.findall(text.lower()):
        if word in STOPWORDS:
            continue
        out.append(word[:-1] if len(word) > 3 and word.endswith("s") else word)
    return out


def in_prefix(namespace: str, prefix: str) -> bool:
    """Whether a stored namespace lies under `prefix` (both dot-joined, as SqliteStore keeps them)."""
    return not prefix or namespace == prefix or namespace.startswith(prefix + ".")


EXACT_ROWS = 20_000
"""Namespaces up to this size are searched exactly; larger ones through sign bits first."""
CANDIDATES = 512
"""Rows re-scored exactly after the sign-bit scan (times the number of results wanted / 4)."""


class _Block:
    """One namespace's vectors: a growable matrix with swap-remove.

    Past `EXACT_ROWS` rows a search first scans 1-bit codes (the signs of each
    vector minus the block's mean: 48 bytes a row instead of 1,536) by Hamming
    distance, then scores the best `CANDIDATES` rows exactly.
    """

    def __init__(self, dims: int) -> None:
        self.matrix = np.zeros((16, dims), dtype=np.float32)
        self.keys: list[str] = []
        self.rows: dict[str, int] = {}
        self._center: Vectors | None = None
        self._codes = np.zeros((16, (dims + 63) // 64), dtype=np.uint64)
        self._coded_at = 0

    def upsert(self, key: str, vector: Vectors) -> None:
        row = self.rows.get(key)
        if row is None:
            row = len(self.keys)
            if row == len(self.matrix):
                self.matrix = _grown(self.matrix)
                self._codes = _grown(self._codes)
            self.keys.append(key)
            self.rows[key] = row
        self.matrix[row] = vector
        if self._center is not None:
            self._codes[row] = self._code(vector[None, :], self._center)[0]

    def remove(self, key: str) -> None:
        row = self.rows.pop(key, None)
        if row is None:
            return
        last = len(self.keys) - 1
        if row != last:
            moved = self.keys[last]
            self.matrix[row] = self.matrix[last]
            self._codes[row] = self._codes[last]
            self.keys[row] = moved
            self.rows[moved] = row
        self.keys.pop()

    def _code(self, vectors: Vectors, center: Vectors) -> npt.NDArray[np.uint64]:
        bits = np.packbits(vectors > center, axis=1)
        pad = self._codes.shape[1] * 8 - bits.shape[1]
        if pad:
            bits = np.pad(bits, ((0, 0), (0, pad)))
        return bits.view(np.uint64)

    def _recode(self) -> None:
        """Re-centre and re-code every row (when the block has doubled since the last time)."""
        size = len(self.keys)
        center = self.matrix[:size].mean(axis=0)
        self._codes[:size] = self._code(self.matrix[:size], center)
        self._center = center
        self._coded_at = size

    def top(self, query: Vectors, n: int) -> list[tuple[str, float]]:
        size = len(self.keys)
        if not size:
            return []
        if size <= EXACT_ROWS:
            return self._best(np.arange(size), self.matrix[:size] @ query, n)
        else:
            if self._center is None or size >= 2 * self._coded_at:
                self._recode()
            assert self._center is not None  # set by _recode
            code = self._code(query[None, :], self._center)
            distances = np.bitwise_count(self._codes[:size] ^ code).sum(axis=1, dtype=np.int32)
            wanted = min(size - 1, max(CANDIDATES, CANDIDATES * n // 4))
            rows = np.argpartition(distances, wanted)[:wanted]
        return self._best(rows, self.matrix[rows] @ query, n)

    def _best(self, rows: npt.NDArray[np.intp], scores: Vectors, n: int) -> list[tuple[str, float]]:
        if n < len(rows):
            best = np.argpartition(-scores, n)[:n]
            best = best[np.argsort(-scores[best])]
        else:
            best = np.argsort(-scores)
        return [(self.keys[rows[i]], float(scores[i])) for i in best]


def _grown(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    grown = np.zeros((2 * len(array), array.shape[1]), dtype=array.dtype)
    grown[: len(array)] = array
    return grown


class VectorIndex:
    """Unit vectors by namespace; cosine similarity is a dot product."""

    def __init__(self, dims: int) -> None:
        self.dims = dims
        self._blocks: dict[str, _Block] = {}

    def __len__(self) -> int:
        return sum(len(b.keys) for b in self._blocks.values())

    def upsert(self, item: Key, vector: Vectors) -> None:
        namespace, key = item
        block = self._blocks.get(namespace)
        if block is None:
            block = self._blocks[namespace] = _Block(self.dims)
        block.upsert(key, vector)

    def remove(self, item: Key) -> None:
        block = self._blocks.get(item[0])
        if block is not None:
            block.remove(item[1])

    def search(self, prefix: str, query: Vectors, n: int) -> list[tuple[Key, float]]:
        found: list[tuple[Key, float]] = []
        # One BLAS thread: a matrix-vector product is memory-bound, and a second
        # thread on a busy core made it several times slower here.
        with _BLAS.limit(limits=1, user_api="blas"):
            for namespace, block in self._blocks.items():
                if in_prefix(namespace, prefix):
                    found.extend(((namespace, key), s) for key, s in block.top(query, n))
        found.sort(key=lambda pair: -pair[1])
        return found[:n]


class LexicalIndex:
    """BM25 (k1=1.2, b=0.75) over word tokens, with an inverted index per namespace."""

    K1 = 1.2
    B = 0.75

    def __init__(self) -> None:
        self._docs: dict[Key, Counter[str]] = {}
        self._postings: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        self._length_total: dict[str, int] = defaultdict(int)
        self._count: dict[str, int] = defaultdict(int)

    def __len__(self) -> int:
        return len(self._docs)

    def upsert(self, item: Key, text: str) -> None:
        self.remove(item)
        namespace, key = item
        terms = Counter(words(text))
        self._docs[item] = terms
        for term in terms:
            self._postings[namespace][term].add(key)
        self._length_total[namespace] += sum(terms.values())
        self._count[namespace] += 1

    def remove(self, item: Key) -> None:
        terms = self._docs.pop(item, None)
        if terms is None:
            return
        namespace, key = item
        for term in terms:
            self._postings[namespace][term].discard(key)
        self._length_total[namespace] -= sum(terms.values())
        self._count[namespace] -= 1

    def search(self, prefix: str, query: str, n: int) -> list[tuple[Key, float]]:
        terms = set(words(query))
        found: list[tuple[Key, float]] = []
        for namespace, postings in self._postings.items():
            if not in_prefix(namespace, prefix) or not self._count[namespace]:
                continue
            found.extend(self._score(namespace, postings, terms))
        found.sort(key=lambda pair: -pair[1])
        return found[:n]

    def _score(
        self, namespace: str, postings: dict[str, set[str]], terms: Iterable[str]
    ) -> list[tuple[Key, float]]:
        count = self._count[namespace]
        average = self._length_total[namespace] / count
        scores: dict[str, float] = defaultdict(float)
        for term in terms:
            keys = postings.get(term)
            if not keys:
                continue
            idf = math.log(1 + (count - len(keys) + 0.5) / (len(keys) + 0.5))
            for key in keys:
                doc = self._docs[(namespace, key)]
                tf = doc[term]
                norm = tf + self.K1 * (1 - self.B + self.B * sum(doc.values()) / average)
                scores[key] += idf * tf * (self.K1 + 1) / norm
        return [((namespace, key), score) for key, score in scores.items()]
