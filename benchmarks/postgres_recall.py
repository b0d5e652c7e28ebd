"""Recall on Postgres without pgvector: `AgentlabPostgresStore`'s cosine scan in SQL.

One user's namespace of N memories; their vectors are all-MiniLM-L6-v2
embeddings of 300 templated texts and, beyond 300, noisy copies of them (the
scan's cost does not depend on the values). Reported per N: the query search
p50 with the query already embedded (the SQL scan and loading the rows), and
the same search in `AgentlabSqliteStore`'s in-process index for comparison.
Starts a throwaway cluster (tests/postgres_server.py) unless `--db URL` is given.

    .venv/bin/python benchmarks/postgres_recall.py [--sizes 1000,10000] [--queries 30]
    .venv/bin/python benchmarks/postgres_recall.py --smoke    # 100 memories, 3 queries
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings
from langgraph.store.base import PutOp
from psycopg.types.json import Jsonb

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from machine import describe
from postgres_server import PostgresServer
from smoke import add_smoke

from agentlab.memory import AgentlabSqliteStore, MiniLMEmbeddings
from agentlab.memory.postgres import connection_pool
from agentlab.memory.postgres_store import AgentlabPostgresStore

NAMESPACE = ("memories", "bench", "agentlab")
QUERIES = [
    "What does the user like to drink?",
    "Which city does the user live in?",
    "How do I refer to an earlier step's result?",
    "What went wrong when dividing by zero?",
    "Which plan answered a percentage question?",
    "What editor does the user prefer?",
]


class Fixed(Embeddings):
    """Hands back vectors computed beforehand, so only the store is timed."""

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.vectors = vectors

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.vectors[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.vectors[text]


def _vectors(n: int) -> tuple[list[str], np.ndarray[Any, Any]]:
    base = [f"Memory {i}: the user said fact number {i} about topic {i % 17}." for i in range(300)]
    embedded = MiniLMEmbeddings().encode(base)
    rng = np.random.default_rng(0)
    rows = embedded[np.arange(n) % 300] + rng.normal(0, 0.05, (n, 384)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return [f"{base[i % 300]} ({i})" for i in range(n)], rows


def _p50_ms(store: Any, queries: list[str], rounds: int) -> float:
    times = []
    for i in range(rounds):
        started = time.perf_counter()
        store.search(NAMESPACE, query=queries[i % len(queries)], limit=3)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--db", default=None)
    add_smoke(parser)
    args = parser.parse_args()
    if args.smoke:
        args.sizes, args.queries = "100", 3
    query_vectors = dict(zip(QUERIES, MiniLMEmbeddings().encode(QUERIES).tolist(), strict=True))
    server = None if args.db else PostgresServer()
    print(describe())
    print("| memories | Postgres scan p50 | SQLite in-process index p50 |")
    print("|---|---|---|")
    try:
        for n in [int(s) for s in args.sizes.split(",")]:
            url = args.db or server.database()  # type: ignore[union-attr]
            texts, rows = _vectors(n)
            fixed = Fixed({**query_vectors, **dict(zip(texts, rows.tolist(), strict=True))})
            index: Any = {"dims": 384, "embed": fixed, "fields": ["text"]}
            store = AgentlabPostgresStore(connection_pool(url), index=index)
            store.setup()
            prefix = ".".join(NAMESPACE)
            with connection_pool(url).connection() as conn, conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO store (prefix, key, value) VALUES (%s, %s, %s)",
                    [(prefix, f"k{i}", Jsonb({"text": t})) for i, t in enumerate(texts)],
                )
                cur.executemany(
                    "INSERT INTO agentlab_store_vectors VALUES (%s, %s, 'text', %s)",
                    [(prefix, f"k{i}", r.tolist()) for i, r in enumerate(rows)],
                )
            with ExitStack() as stack, tempfile.TemporaryDirectory() as folder:
                sqlite = AgentlabSqliteStore.open(Path(folder) / "m.sqlite", embed=fixed)
                stack.callback(sqlite.close)
                sqlite.batch([PutOp(NAMESPACE, f"k{i}", {"text": t}) for i, t in enumerate(texts)])
                sqlite.search(NAMESPACE, query=QUERIES[0], limit=3)  # load the index
                pg = _p50_ms(store, QUERIES, args.queries)
                lite = _p50_ms(sqlite, QUERIES, args.queries)
            print(f"| {n:,} | {pg:.1f} ms | {lite:.2f} ms |", flush=True)
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
