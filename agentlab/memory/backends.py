"""Where threads and memories live: SQLite files under `AGENTLAB_HOME`, or Postgres.

`AGENTLAB_DB` unset: `AGENTLAB_HOME/threads.sqlite` (the checkpointer) and
`AGENTLAB_HOME/memory.sqlite` (the long-term store). `AGENTLAB_DB=postgresql://...`
(install `agentlab[postgres]`): LangGraph's `PostgresSaver`, and a `PostgresStore`
that ranks by LangGraph's pgvector index where the server has pgvector, else by
`AgentlabPostgresStore`'s scan of the rows (no embedder: words, by
`LongTermMemory`); see `agentlab.memory.postgres`.
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

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
        try:
            from agentlab.memory.postgres import postgres_saver
        except ImportError:
            raise ConfigError(POSTGRES_HINT) from None
        return postgres_saver(url, serializer())
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
        try:
            from agentlab.memory.postgres import postgres_store
        except ImportError:
            raise ConfigError(POSTGRES_HINT) from None
        return postgres_store(url, embed, TEXT_FIELD)
    store = AgentlabSqliteStore.open((home or default_home()) / MEMORY_FILE, embed=embed)
    stack.callback(store.close)
    return store


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
