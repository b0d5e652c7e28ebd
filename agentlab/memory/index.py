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

import numpy as np

from agentlab.memory.minilm import Vectors

Key = tuple[str, str]
"""(namespace as stored, key)"""

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


class _Block:
    """One namespace's vectors: a growable matrix with swap-remove."""

    def __init__(self, dims: int) -> None:
        self.matrix = np.zeros((16, dims), dtype=np.float32)
        self.keys: list[str] = []
        self.rows: dict[str, int] = {}

    def upsert(self, key: str, vector: Vectors) -> None:
        row = self.rows.get(key)
        if row is None:
            row = len(self.keys)
            if row == len(self.matrix):
                grown = np.zeros((2 * len(self.matrix), self.matrix.shape[1]), dtype=np.float32)
                grown[:row] = self.matrix
                self.matrix = grown
            self.keys.append(key)
            self.rows[key] = row
        self.matrix[row] = vector

    def remove(self, key: str) -> None:
        row = self.rows.pop(key, None)
        if row is None:
            return
        last = len(self.keys) - 1
        if row != last:
            moved = self.keys[last]
            self.matrix[row] = self.matrix[last]
            self.keys[row] = moved
            self.rows[moved] = row
        self.keys.pop()

    def top(self, query: Vectors, n: int) -> list[tuple[str, float]]:
        size = len(self.keys)
        if not size:
            return []
        scores = self.matrix[:size] @ query
        if n < size:
            best = np.argpartition(-scores, n)[:n]
            best = best[np.argsort(-scores[best])]
        else:
            best = np.argsort(-scores)
        return [(self.keys[i], float(scores[i])) for i in best]


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
        for namespace, block in self._blocks.items():
            if in_prefix(namespace, prefix):
                found.extend(((namespace, key), score) for key, score in block.top(query, n))
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
