"""LangGraph's `PostgresStore` with semantic search where pgvector is not installed.

LangGraph's store keeps vectors in a pgvector column and ranks with its
operators. Debian 12 ships no pgvector for PostgreSQL 15, so where the
extension is missing agentlab keeps the vectors itself and still ranks inside
Postgres, over the rows:
- `agentlab_store_vectors` holds one unit-length `real[]` per (item, field),
  deleted with its item (foreign key, `ON DELETE CASCADE`);
- a query search scores the namespace's rows by dot product (cosine, the
  vectors being unit length) in SQL, best first, filters and expiry applied;
- everything else (get, put, delete, plain search, namespaces, TTL) is the
  parent's.
An exact scan: fine for one user's memories (measured in docs/benchmarks.md);
install pgvector for large namespaces and agentlab uses LangGraph's index.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any, cast

from langgraph.store.base import PutOp, Result, SearchItem, SearchOp
from langgraph.store.postgres import PostgresStore
from psycopg import Cursor
from psycopg.rows import DictRow

VECTOR_MIGRATIONS = [
    """
CREATE TABLE IF NOT EXISTS agentlab_store_vectors (
    prefix text NOT NULL,
    key text NOT NULL,
    field_name text NOT NULL,
    embedding real[] NOT NULL,
    PRIMARY KEY (prefix, key, field_name),
    FOREIGN KEY (prefix, key) REFERENCES store(prefix, key) ON DELETE CASCADE
)
""",
]

_RANK_SQL = """
SELECT store.prefix, store.key, store.value, store.created_at, store.updated_at, best.score
FROM (
    SELECT sv.prefix, sv.key, max(dot.score) AS score
    FROM agentlab_store_vectors sv
    CROSS JOIN LATERAL (
        SELECT sum(a * b) AS score FROM unnest(sv.embedding, %s::real[]) AS pair(a, b)
    ) dot
    WHERE {namespace}
    GROUP BY sv.prefix, sv.key
) best
JOIN store ON store.prefix = best.prefix AND store.key = best.key
WHERE TRUE {conditions}
ORDER BY best.score DESC, store.key
LIMIT %s OFFSET %s
"""


TINY = 1e-30
"""Components below this are stored as 0: Postgres refuses float8 values that underflow
`real`, and they change no score."""


def _unit(vector: Sequence[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm if abs(x / norm) >= TINY else 0.0 for x in vector]


def _as_dict(value: Any) -> dict[str, Any]:
    loaded = value if isinstance(value, dict) else json.loads(value)
    return cast(dict[str, Any], loaded)


def _like_literal(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class AgentlabPostgresStore(PostgresStore):
    """A `PostgresStore` whose query search needs no pgvector (see the module docstring).

    `index` is LangGraph's index config (`dims`, `embed`, `fields`); without one the
    store is the parent unchanged.
    """

    def setup(self) -> None:
        """The parent's store migrations, then agentlab's vector table (not pgvector's)."""
        index, self.index_config = self.index_config, None
        try:
            super().setup()
        finally:
            self.index_config = index
        if index is None:
            return
        with self._cursor() as cur:
            cur.execute(
                "CREATE TABLE IF NOT EXISTS agentlab_vector_migrations (v INTEGER PRIMARY KEY)"
            )
            cur.execute("SELECT max(v) AS v FROM agentlab_vector_migrations")
            row = cur.fetchone()
            done = -1 if row is None or row["v"] is None else int(row["v"])
            for version in range(done + 1, len(VECTOR_MIGRATIONS)):
                cur.execute(VECTOR_MIGRATIONS[version])
                cur.execute("INSERT INTO agentlab_vector_migrations (v) VALUES (%s)", (version,))

    # -- writes: the parent's rows, then our vectors -------------------------------------

    def _batch_put_ops(self, put_ops: Sequence[tuple[int, PutOp]], cur: Cursor[DictRow]) -> None:
        queries, embedding_request = self._prepare_batch_PUT_queries(put_ops)
        for query, params in queries:
            cur.execute(query, params)
        if embedding_request is None or self.embeddings is None:
            return
        # The parent's request names which texts to embed; its SQL is pgvector's, not used.
        _, fields = embedding_request
        vectors = self.embeddings.embed_documents([text for *_, text in fields])
        cur.executemany(
            "INSERT INTO agentlab_store_vectors (prefix, key, field_name, embedding) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (prefix, key, field_name) "
            "DO UPDATE SET embedding = EXCLUDED.embedding",
            [
                (prefix, key, field, _unit(vector))
                for (prefix, key, field, _), vector in zip(fields, vectors, strict=True)
            ],
        )

    # -- query search: ranked in SQL over the namespace's vectors ------------------------

    def _batch_search_ops(
        self,
        search_ops: Sequence[tuple[int, SearchOp]],
        results: list[Result],
        cur: Cursor[DictRow],
    ) -> None:
        embeddings = self.embeddings
        if embeddings is None:
            super()._batch_search_ops(search_ops, results, cur)
            return
        plain = [(i, op) for i, op in search_ops if not op.query]
        if plain:
            super()._batch_search_ops(plain, results, cur)
        for i, op in search_ops:
            if op.query:
                query = _unit(embeddings.embed_query(op.query))
                results[i] = self._ranked_search(op, query, cur)

    def _ranked_search(
        self, op: SearchOp, query: list[float], cur: Cursor[DictRow]
    ) -> list[SearchItem]:
        namespace, params = "TRUE", []
        if op.namespace_prefix:
            path = ".".join(op.namespace_prefix)
            namespace = r"(sv.prefix = %s OR sv.prefix LIKE %s ESCAPE '\')"
            params = [path, f"{_like_literal(path)}.%"]
        conditions: list[str] = []
        filter_params: list[Any] = []
        for key, value in (op.filter or {}).items():
            operators = value if isinstance(value, dict) else {"$eq": value}
            for name, operand in operators.items():
                condition, extra = self._get_filter_condition(key, name, operand)
                conditions.append(condition)
                filter_params.extend(extra)
        if self._omit_expired:
            conditions.append("(store.expires_at IS NULL OR store.expires_at > NOW())")
        sql = _RANK_SQL.format(
            namespace=namespace, conditions="".join(f" AND {c}" for c in conditions)
        )
        cur.execute(sql, [query, *params, *filter_params, op.limit, op.offset])
        return [
            SearchItem(
                namespace=tuple(str(row["prefix"]).split(".")),
                key=row["key"],
                value=_as_dict(row["value"]),
                created_at=row["created_at"],
                updated_at=row["updated_at"],
                score=float(row["score"]),
            )
            for row in cur.fetchall()
        ]
