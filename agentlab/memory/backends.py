"""Where threads and memories live: SQLite files under `AGENTLAB_HOME`, or Postgres.

`AGENTLAB_DB` unset: `AGENTLAB_HOME/threads.sqlite` (the checkpointer) and
`AGENTLAB_HOME/memory.sqlite` (the long-term store). `AGENTLAB_DB=postgresql://...`
(install `agentlab[postgres]`): LangGraph's `PostgresSaver`, and a `PostgresStore`
that ranks by LangGraph's pgvector index where the server has pgvector, else by
`AgentlabPostgresStore`'s scan of the rows (no embedder: words, by
`LongTermMemory`). Every saver and store of a process shares one connection pool
per database, so concurrent runs do not queue on one connection.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.store.base import BaseStore

from agentlab.errors import ConfigError
from agentlab.failures import FailureCategory, FailureEvent
from agentlab.memory.embeddings import resolve_embedder
from agentlab.memory.sqlite_store import TEXT_FIELD, AgentlabSqliteStore, connect
from agentlab.schemas import Plan, Reflection, Step
from agentlab.state import Counters, StepResult
from agentlab.trace import default_home

DB_ENV = "AGENTLAB_DB"
THREADS_FILE = "threads.sqlite"
MEMORY_FILE = "memory.sqlite"
POSTGRES_HINT = (
    "AGENTLAB_DB points at Postgres, which needs LangGraph's Postgres package: "
    "pip install 'agentlab[postgres]' (langgraph-checkpoint-postgres, psycopg, psycopg-pool)"
)
SETUP_LOCK = 0x6167656E746C6162
"""The advisory lock key ("agentlab" in ASCII) that serialises migrations across processes."""
SETUP_WAIT_S = 120.0
"""How long a process waits for another's migrations before giving up."""
POOL_MAX = 10
"""Connections one process keeps open to the database, at most (shared by its runs)."""


STATE_TYPES = (Plan, Step, Reflection, StepResult, Counters, FailureEvent, FailureCategory)
"""The agentlab types a checkpoint holds; the serializer revives these and nothing else."""


def serializer() -> JsonPlusSerializer:
    """The checkpoint serializer, with agentlab's state types allowed."""
    return JsonPlusSerializer(
        allowed_msgpack_modules=[(t.__module__, t.__name__) for t in STATE_TYPES]
    )


def database_url() -> str | None:
    """`AGENTLAB_DB` when it names a Postgres database; None means SQLite files."""
    url = os.environ.get(DB_ENV, "").strip()
    if not url:
        return None
    if url.startswith(("postgres://", "postgresql://")):
        return url
    raise ConfigError(
        f"{DB_ENV}={url!r} is not a postgresql:// URL; unset it to keep threads and memories "
        f"in SQLite files under AGENTLAB_HOME ({default_home()})"
    )


def open_checkpointer(stack: ExitStack, home: Path | None = None) -> BaseCheckpointSaver[str]:
    """The thread checkpointer; closed with `stack`."""
    url = database_url()
    if url is not None:
        return _postgres_saver(url)
    from langgraph.checkpoint.sqlite import SqliteSaver

    conn = connect((home or default_home()) / THREADS_FILE)
    stack.callback(conn.close)
    sqlite_saver = SqliteSaver(conn, serde=serializer())
    sqlite_saver.setup()
    return sqlite_saver


def open_store(
    stack: ExitStack, home: Path | None = None, *, embedder: str | None = None
) -> BaseStore:
    """The long-term memory store; closed with `stack`."""
    embed = resolve_embedder(embedder)
    url = database_url()
    if url is not None:
        return _postgres_store(url, embed)
    store = AgentlabSqliteStore.open((home or default_home()) / MEMORY_FILE, embed=embed)
    stack.callback(store.close)
    return store


# -- Postgres ------------------------------------------------------------------------------

_pools: dict[str, Any] = {}
_set_up: set[tuple[str, str]] = set()
_pools_lock = threading.Lock()


def shared_pool(url: str) -> Any:
    """This process's connection pool for `url` (a psycopg_pool `ConnectionPool`, opened on
    first use and closed at exit), with the connection settings LangGraph's savers expect."""
    try:
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool
    except ImportError:
        raise ConfigError(POSTGRES_HINT) from None
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
def setup_lock(pool: Any) -> Iterator[None]:
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
    with setup_lock(shared_pool(url)):
        setup()
    with _pools_lock:
        _set_up.add((url, what))


def _postgres_saver(url: str) -> BaseCheckpointSaver[str]:
    try:
        from langgraph.checkpoint.postgres import PostgresSaver
    except ImportError:
        raise ConfigError(POSTGRES_HINT) from None
    saver = PostgresSaver(shared_pool(url), serde=serializer())
    _setup_once(url, "checkpoints", saver.setup)
    return saver


def has_pgvector(pool: Any) -> bool:
    """Whether the server can give the store LangGraph's pgvector index."""
    with pool.connection() as conn:
        row = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone()
    return row is not None


def _postgres_store(url: str, embed: Any) -> BaseStore:
    try:
        from langgraph.store.postgres import PostgresStore

        from agentlab.memory.postgres_store import AgentlabPostgresStore
    except ImportError:
        raise ConfigError(POSTGRES_HINT) from None
    pool = shared_pool(url)
    if embed is None:
        # No embedder: LongTermMemory ranks the rows by their words.
        plain = PostgresStore(pool)
        _setup_once(url, "store", plain.setup)
        return plain
    index: Any = {"dims": embed.dims, "embed": embed, "fields": [TEXT_FIELD]}
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


@dataclass
class Backends:
    """An open checkpointer and store (either may be None), closed together."""

    checkpointer: BaseCheckpointSaver[str] | None = None
    store: BaseStore | None = None
    _stack: ExitStack = field(default_factory=ExitStack)

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> Backends:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_backends(*, threads: bool, memory: bool, home: Path | None = None) -> Backends:
    """Open what a run needs: the checkpointer when `threads`, the store when `memory`."""
    backends = Backends()
    try:
        if threads:
            backends.checkpointer = open_checkpointer(backends._stack, home)
        if memory:
            backends.store = open_store(backends._stack, home)
    except BaseException:
        backends.close()
        raise
    return backends
