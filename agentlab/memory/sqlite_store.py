"""LangGraph's `SqliteStore`, made safe for many processes and fast to search.

What changes against the parent class:
- The connection runs in WAL mode with a busy timeout, and every batch that
  writes opens with `BEGIN IMMEDIATE`, so concurrent writers queue instead of
  failing with "database is locked".
- Setup (migrations) runs in one immediate transaction, so processes that open
  a new file at the same time do not race.
- Query search (`search(ns, query=...)`) is served from an in-process index
  (`agentlab.memory.index`): vectors when an embedder is configured, BM25 when
  not. Triggers log every change of the `store` table, so each search first
  applies the changes other processes made. This replaces the parent's
  sqlite-vec scan (about 100 ms at 100k memories here), and needs no SQLite
  extension, so the standard library's sqlite3 is enough.
- Search without a query, get, put, delete, TTL and namespaces are the parent's.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import numpy as np
from langchain_core.embeddings import Embeddings
from langgraph.store.base import (
    GetOp,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    get_text_at_path,
    tokenize_path,
)
from langgraph.store.sqlite import SqliteStore
from langgraph.store.sqlite.base import (
    MIGRATIONS,
    VECTOR_MIGRATIONS,
    _decode_ns_text,
    _group_ops,
    _json_loads,
    _namespace_to_text,
)

from agentlab.memory.index import Key, LexicalIndex, VectorIndex, in_prefix
from agentlab.private_files import FILE_MODE, private_file

BUSY_TIMEOUT_MS = 60_000
TEXT_FIELD = "text"
"""The value field that is embedded and searched."""

CHANGE_LOG = [
    """
CREATE TABLE IF NOT EXISTS agentlab_store_changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    prefix text NOT NULL,
    key text NOT NULL
)
""",
    """
CREATE TRIGGER IF NOT EXISTS agentlab_store_insert AFTER INSERT ON store BEGIN
    INSERT INTO agentlab_store_changes (prefix, key) VALUES (NEW.prefix, NEW.key);
END
""",
    """
CREATE TRIGGER IF NOT EXISTS agentlab_store_update AFTER UPDATE ON store BEGIN
    INSERT INTO agentlab_store_changes (prefix, key) VALUES (NEW.prefix, NEW.key);
END
""",
    """
CREATE TRIGGER IF NOT EXISTS agentlab_store_delete AFTER DELETE ON store BEGIN
    INSERT INTO agentlab_store_changes (prefix, key) VALUES (OLD.prefix, OLD.key);
END
""",
]
KEEP_CHANGES = 50_000
"""Change-log rows kept; a process further behind reloads its index from the tables."""


def connect(path: str | Path) -> sqlite3.Connection:
    """A connection for one process: autocommit, WAL, a generous busy timeout."""
    if str(path) != ":memory:":
        # Memories and threads hold tasks and answers: owner-only. SQLite gives its -wal
        # and -shm files the database file's mode; ones left by an older version are fixed.
        private_file(path)
        for sidecar in (Path(f"{path}-wal"), Path(f"{path}-shm")):
            if sidecar.exists():
                sidecar.chmod(FILE_MODE)
    conn = sqlite3.connect(
        str(path), check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000
    )
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


class AgentlabSqliteStore(SqliteStore):
    """A `SqliteStore` for several processes, with in-process query search.

    `embed` (langchain-core `Embeddings`) turns on semantic search over each
    value's `"text"` field; without it, query search ranks by BM25.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        embed: Embeddings | None = None,
        dims: int = 384,
    ) -> None:
        index = (
            {"dims": dims, "embed": embed, "fields": [TEXT_FIELD], "text_fields": [TEXT_FIELD]}
            if embed is not None
            else None
        )
        super().__init__(conn, index=index)  # type: ignore[arg-type]
        self._embedder = self.embeddings
        self._index_lock = threading.Lock()
        self._vectors = VectorIndex(dims) if embed is not None else None
        self._lexical = LexicalIndex() if embed is None else None
        self._seen_seq = -1

    @classmethod
    def open(cls, path: str | Path, *, embed: Embeddings | None = None) -> AgentlabSqliteStore:
        """Open (and set up) the store file at `path`."""
        dims = int(getattr(embed, "dims", 384))
        store = cls(connect(path), embed=embed, dims=dims)
        store.setup()
        return store

    def close(self) -> None:
        self.conn.close()

    # -- setup and transactions ---------------------------------------------------------

    def setup(self) -> None:
        """Apply the parent's migrations and the change log, in one immediate transaction."""
        with self.lock:
            if self.is_setup:
                return
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                self._migrate("store_migrations", MIGRATIONS)
                if self.index_config:
                    self._migrate("vector_migrations", VECTOR_MIGRATIONS)
                self._migrate("agentlab_migrations", CHANGE_LOG)
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
            self.is_setup = True

    def _migrate(self, table: str, migrations: Sequence[str]) -> None:
        self.conn.execute(f"CREATE TABLE IF NOT EXISTS {table} (v INTEGER PRIMARY KEY)")
        row = self.conn.execute(f"SELECT max(v) FROM {table}").fetchone()
        done = -1 if row is None or row[0] is None else int(row[0])
        for version, sql in enumerate(migrations[done + 1 :], start=done + 1):
            self.conn.execute(sql)
            self.conn.execute(f"INSERT INTO {table} (v) VALUES (?)", (version,))

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[sqlite3.Cursor]:
        """A cursor in a transaction: `BEGIN IMMEDIATE` takes the write lock up front, so a
        writer waits for the busy timeout instead of failing on a lock upgrade."""
        if not self.is_setup:
            self.setup()
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            cur = self.conn.cursor()
            try:
                yield cur
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            else:
                self.conn.execute("COMMIT")
            finally:
                cur.close()

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        grouped, count = _group_ops(ops)
        results: list[Result] = [None] * count
        puts = cast(Sequence[tuple[int, PutOp]], grouped.get(PutOp, []))
        embedded = self._embed_before_lock(puts)
        searches = cast(Sequence[tuple[int, SearchOp]], grouped.get(SearchOp, []))
        by_query = [(i, op) for i, op in searches if op.query]
        plain = [(i, op) for i, op in searches if not op.query]
        with self._transaction(write=PutOp in grouped) as cur:
            if GetOp in grouped:
                self._batch_get_ops(cast(Sequence[tuple[int, GetOp]], grouped[GetOp]), results, cur)
            if plain:
                self._batch_search_ops(plain, results, cur)
            if ListNamespacesOp in grouped:
                self._batch_list_namespaces_ops(
                    cast(Sequence[tuple[int, ListNamespacesOp]], grouped[ListNamespacesOp]),
                    results,
                    cur,
                )
            if puts:
                # The parent embeds inside the transaction; hand it the vectors made above.
                self.embeddings = embedded or self._embedder
                try:
                    self._batch_put_ops(puts, cur)
                finally:
                    self.embeddings = self._embedder
        if by_query:
            self._query_search(by_query, results)
        return results

    # -- embeddings are computed before the write lock is taken --------------------------

    def _embed_before_lock(self, puts: Sequence[tuple[int, PutOp]]) -> _EmbeddingCache | None:
        """Embed the texts of a put batch now, so the write transaction only copies vectors."""
        if self._embedder is None or not puts:
            return None
        texts = []
        for _, op in puts:
            if op.value is None or op.index is False:
                continue
            for path in op.index or [TEXT_FIELD]:
                texts.extend(get_text_at_path(op.value, tokenize_path(path)))
        return _EmbeddingCache(self._embedder, texts) if texts else None

    # -- query search from the in-process index ------------------------------------------

    def _query_search(self, ops: Sequence[tuple[int, SearchOp]], results: list[Result]) -> None:
        with self._index_lock:
            self._sync_index()
            for i, op in ops:
                results[i] = self._search_one(op)

    def _search_one(self, op: SearchOp) -> list[SearchItem]:
        prefix = _namespace_to_text(op.namespace_prefix)
        wanted = op.limit + op.offset
        # Rows a filter or a deletion by another process drops are made up by widening.
        pool = 4 * wanted + 32 if op.filter else wanted + 5
        while True:
            ranked = self._rank(prefix, cast(str, op.query), pool)
            items = self._load(ranked, op.filter)
            if len(items) >= wanted or len(ranked) < pool:
                return items[op.offset : op.offset + op.limit]
            pool *= 4

    def _rank(self, prefix: str, query: str, n: int) -> list[tuple[Key, float]]:
        if self._vectors is not None and self._embedder is not None:
            vector = np.asarray(self._embedder.embed_query(query), dtype=np.float32)
            return self._vectors.search(prefix, vector, n)
        if self._lexical is not None:
            return self._lexical.search(prefix, query, n)
        return []

    def _load(
        self, ranked: list[tuple[Key, float]], filter: dict[str, Any] | None
    ) -> list[SearchItem]:
        """The ranked items that still exist and pass `filter`, best first."""
        if not ranked:
            return []
        conditions, params = [], []
        for key, value in (filter or {}).items():
            ops = value if isinstance(value, dict) else {"$eq": value}
            for op_name, operand in ops.items():
                condition, extra = self._get_filter_condition(key, op_name, operand)
                conditions.append(condition)
                params.extend(extra)
        by_namespace: dict[str, list[str]] = {}
        for (namespace, key), _ in ranked:
            by_namespace.setdefault(namespace, []).append(key)
        rows: dict[Key, tuple[Any, ...]] = {}
        with self.lock:
            for namespace, keys in by_namespace.items():
                sql = (
                    "SELECT key, value, created_at, updated_at FROM store WHERE prefix = ? "
                    f"AND key IN ({','.join('?' * len(keys))})"
                    + "".join(f" AND {c}" for c in conditions)
                )
                for row in self.conn.execute(sql, (namespace, *keys, *params)):
                    rows[(namespace, row[0])] = row
        return [
            SearchItem(
                namespace=_decode_ns_text(item[0]),
                key=item[1],
                value=_json_loads(row[1]),
                created_at=row[2],
                updated_at=row[3],
                score=score,
            )
            for item, score in ranked
            if (row := rows.get(item)) is not None
        ]

    def _sync_index(self) -> None:
        """Apply every change logged since the last sync (or load everything, the first time
        or when the log was pruned past this process)."""
        with self.lock:
            # Two subqueries: SQLite answers a lone min() or max() from the primary key's
            # b-tree, but scans the whole log for both in one SELECT (9 ms at 100k changes).
            low, high = self.conn.execute(
                "SELECT (SELECT min(seq) FROM agentlab_store_changes), "
                "(SELECT max(seq) FROM agentlab_store_changes)"
            ).fetchone()
            if high is None or high == self._seen_seq:
                if self._seen_seq < 0:
                    self._reload_all()
                    self._seen_seq = high if high is not None else 0
                return
            if self._seen_seq < 0 or (low is not None and low > self._seen_seq + 1):
                self._reload_all()
            else:
                changed = self.conn.execute(
                    "SELECT DISTINCT prefix, key FROM agentlab_store_changes WHERE seq > ?",
                    (self._seen_seq,),
                ).fetchall()
                for namespace, key in changed:
                    self._reload_item((namespace, key))
            self._seen_seq = high
            if high - (low or 0) > 2 * KEEP_CHANGES:
                self.conn.execute(
                    "DELETE FROM agentlab_store_changes WHERE seq <= ?", (high - KEEP_CHANGES,)
                )

    def _reload_all(self) -> None:
        if self._vectors is not None:
            self._vectors = VectorIndex(self._vectors.dims)
            rows = self.conn.execute(
                "SELECT sv.prefix, sv.key, sv.embedding FROM store_vectors sv "
                "JOIN store s ON s.prefix = sv.prefix AND s.key = sv.key "
                "WHERE sv.field_name = ?",
                (TEXT_FIELD,),
            )
            for namespace, key, blob in rows:
                self._vectors.upsert((namespace, key), np.frombuffer(blob, dtype=np.float32))
        if self._lexical is not None:
            self._lexical = LexicalIndex()
            for namespace, key, value in self.conn.execute("SELECT prefix, key, value FROM store"):
                self._lexical.upsert((namespace, key), _text_of(_json_loads(value)))

    def _reload_item(self, item: Key) -> None:
        if self._vectors is not None:
            row = self.conn.execute(
                "SELECT sv.embedding FROM store_vectors sv JOIN store s "
                "ON s.prefix = sv.prefix AND s.key = sv.key "
                "WHERE sv.prefix = ? AND sv.key = ? AND sv.field_name = ?",
                (*item, TEXT_FIELD),
            ).fetchone()
            if row is None:
                self._vectors.remove(item)
            else:
                self._vectors.upsert(item, np.frombuffer(row[0], dtype=np.float32))
        if self._lexical is not None:
            row = self.conn.execute(
                "SELECT value FROM store WHERE prefix = ? AND key = ?", item
            ).fetchone()
            if row is None:
                self._lexical.remove(item)
            else:
                self._lexical.upsert(item, _text_of(_json_loads(row[0])))

    def indexed(self, prefix: tuple[str, ...] = ()) -> int:
        """How many items the in-process index holds under `prefix` (after a sync)."""
        with self._index_lock:
            self._sync_index()
            index = self._vectors if self._vectors is not None else self._lexical
            if isinstance(index, VectorIndex):
                return sum(
                    len(block.keys)
                    for name, block in index._blocks.items()
                    if in_prefix(name, _namespace_to_text(prefix))
                )
            return len(index) if index is not None else 0


def _text_of(value: Any) -> str:
    if isinstance(value, dict) and isinstance(value.get(TEXT_FIELD), str):
        return cast(str, value[TEXT_FIELD])
    return str(value)


class _EmbeddingCache(Embeddings):
    """Vectors computed before the write lock; other texts fall through to the embedder."""

    def __init__(self, inner: Embeddings, texts: list[str]) -> None:
        self.inner = inner
        self._vectors = dict(zip(texts, inner.embed_documents(texts), strict=True))

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        missing = [t for t in texts if t not in self._vectors]
        if missing:
            self._vectors.update(zip(missing, self.inner.embed_documents(missing), strict=True))
        return [self._vectors[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)
