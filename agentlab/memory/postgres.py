"""Threads and memories in Postgres (`AGENTLAB_DB=postgresql://...`, `agentlab[postgres]`).

- One `psycopg_pool` pool per database per process, shared by every saver and
  store the process opens (up to `POOL_MAX` connections), so concurrent runs do
  not queue on one connection; closed at exit.
- Migrations run once per process and database, under a Postgres advisory lock
  (`setup_lock`): processes opening a fresh database together would otherwise
  race on its tables.
- The store: LangGraph's `PostgresStore` with its pgvector index where the server
  has pgvector, `AgentlabPostgresStore` (ranking in SQL over `real[]` vectors)
  where not, and LangGraph's store without an index when there is no embedder
  (`LongTermMemory` then ranks the rows by their words).
"""

from __future__ import annotations

import atexit
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from langchain_core.embeddings import Embeddings
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.store.base import BaseStore
from langgraph.store.postgres import PostgresStore
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from agentlab.errors import ConfigError
from agentlab.memory.postgres_store import AgentlabPostgresStore

SETUP_LOCK = 0x6167656E746C6162
"""The advisory lock key ("agentlab" in ASCII) that serialises migrations across processes."""
SETUP_WAIT_S = 120.0
"""How long a process waits for another's migrations before giving up."""
POOL_MAX = 10
"""Connections one process keeps open to the database, at most (shared by its runs)."""

_pools: dict[str, ConnectionPool[Any]] = {}
_set_up: set[tuple[str, str]] = set()
_pools_lock = threading.Lock()


def connection_pool(url: str) -> ConnectionPool[Any]:
    """This process's connection pool for `url` (opened on first use, closed at exit), with
    the connection settings LangGraph's savers expect."""
    with _pools_lock:
        pool = _pools.get(url)
        if pool is None:
            pool = ConnectionPool(
                url,
                min_size=1,
                max_size=POOL_MAX,
                kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
                check=ConnectionPool.check_connection,
                open=False,
            )
            try:
                pool.open(wait=True, timeout=10)
            except Exception as exc:
                pool.close()
                raise ConfigError(
                    f"cannot connect to AGENTLAB_DB ({_redacted(url)}): {exc}"
                ) from exc
            atexit.register(pool.close)
            _pools[url] = pool
        return pool


def _redacted(url: str) -> str:
    """The URL without its password, for messages."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at or ":" not in credentials:
        return url
    return f"{scheme}{sep}{credentials.split(':', 1)[0]}:***@{host}"


@contextmanager
def setup_lock(pool: ConnectionPool[Any]) -> Iterator[None]:
    """Hold a Postgres advisory lock on a connection of its own: processes that open a fresh
    database together would otherwise race on its migrations (`CREATE TABLE IF NOT EXISTS`
    is not safe against a concurrent twin).

    Waiters poll with `pg_try_advisory_lock` instead of blocking in `pg_advisory_lock`: a
    blocked statement is an open transaction, and the holder's `CREATE INDEX CONCURRENTLY`
    (a LangGraph migration) waits for every open transaction to end, a deadlock Postgres
    does not detect."""
    with pool.connection() as conn:
        deadline = time.monotonic() + SETUP_WAIT_S
        while not conn.execute("SELECT pg_try_advisory_lock(%s) AS ok", (SETUP_LOCK,)).fetchone()[
            "ok"
        ]:
            if time.monotonic() > deadline:
                raise ConfigError(
                    f"another process has held agentlab's setup lock on AGENTLAB_DB for "
                    f"{SETUP_WAIT_S:.0f} s (pg_advisory_lock {SETUP_LOCK}); is a migration stuck?"
                )
            time.sleep(0.05)
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (SETUP_LOCK,))


def _setup_once(url: str, what: str, setup: Callable[[], None]) -> None:
    """Run `setup` (migrations) once per process and database, under `setup_lock`."""
    with _pools_lock:
        if (url, what) in _set_up:
            return
    with setup_lock(connection_pool(url)):
        setup()
    with _pools_lock:
        _set_up.add((url, what))


def postgres_saver(url: str, serde: SerializerProtocol) -> BaseCheckpointSaver[str]:
    """LangGraph's `PostgresSaver` on this process's pool for `url`, set up."""
    saver = PostgresSaver(connection_pool(url), serde=serde)
    _setup_once(url, "checkpoints", saver.setup)
    return saver


def has_pgvector(pool: ConnectionPool[Any]) -> bool:
    """Whether the server can give the store LangGraph's pgvector index."""
    with pool.connection() as conn:
        row = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone()
    return row is not None


def postgres_store(url: str, embed: Embeddings | None, field: str) -> BaseStore:
    """The memory store on this process's pool for `url`, set up: LangGraph's pgvector index
    where the server has pgvector, `AgentlabPostgresStore` where not, no index without
    `embed` (`field` is the value field that is embedded)."""
    pool = connection_pool(url)
    if embed is None:
        # No embedder: LongTermMemory ranks the rows by their words.
        plain = PostgresStore(pool)
        _setup_once(url, "store", plain.setup)
        return plain
    index: Any = {"dims": getattr(embed, "dims", 384), "embed": embed, "fields": [field]}
    if has_pgvector(pool):
        indexed = PostgresStore(pool, index=index)
        try:
            _setup_once(url, "store+pgvector", indexed.setup)
        except Exception as exc:
            if "vector" not in str(exc).lower():
                raise
            raise ConfigError(
                f"the server has pgvector but it could not be enabled ({exc}): run "
                "CREATE EXTENSION vector as a superuser, or set AGENTLAB_EMBEDDER=lexical"
            ) from exc
        return indexed
    ranked = AgentlabPostgresStore(pool, index=index)
    _setup_once(url, "store+vectors", ranked.setup)
    return ranked
