"""Where threads and memories live: SQLite files under `AGENTLAB_HOME`, or Postgres.

`AGENTLAB_DB` unset: `AGENTLAB_HOME/threads.sqlite` (the checkpointer) and
`AGENTLAB_HOME/memory.sqlite` (the long-term store). `AGENTLAB_DB=postgresql://...`
(install `agentlab[postgres]`): LangGraph's `PostgresSaver`, and a `PostgresStore`
that ranks by LangGraph's pgvector index where the server has pgvector, else by
`AgentlabPostgresStore`'s scan of the rows (no embedder: words, by
`LongTermMemory`); see `agentlab.memory.postgres`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.store.base import BaseStore, Op, Result

from agentlab import settings
from agentlab.approvals import ApprovalDecision, ApprovalRequest
from agentlab.effects import Effect
from agentlab.errors import ConfigError
from agentlab.failures import FailureCategory, FailureEvent
from agentlab.memory.embeddings import resolve_embedder
from agentlab.memory.sqlite_store import TEXT_FIELD, AgentlabSqliteStore, connect
from agentlab.schemas import Plan, Reflection, Step
from agentlab.state import CodeAttempt, Counters, StepResult
from agentlab.stops import STOP_TYPES

THREADS_FILE = "threads.sqlite"
MEMORY_FILE = "memory.sqlite"
POSTGRES_HINT = (
    "AGENTLAB_DB points at Postgres, which needs LangGraph's Postgres package: "
    "pip install 'agentlab[postgres]' (langgraph-checkpoint-postgres, psycopg, psycopg-pool)"
)


STATE_TYPES = (
    Plan,
    Step,
    Reflection,
    StepResult,
    Counters,
    CodeAttempt,
    FailureEvent,
    FailureCategory,
    ApprovalRequest,
    ApprovalDecision,
    Effect,
    *STOP_TYPES,
)
"""The agentlab types a checkpoint holds; the serializer revives these and nothing else."""


def serializer() -> JsonPlusSerializer:
    """The checkpoint serializer, with agentlab's state types allowed."""
    return JsonPlusSerializer(
        allowed_msgpack_modules=[(t.__module__, t.__name__) for t in STATE_TYPES]
    )


def database_url() -> str | None:
    """`AGENTLAB_DB` when it names a Postgres database; None means SQLite files."""
    url = settings.current().db
    if not url:
        return None
    if url.startswith(("postgres://", "postgresql://")):
        return url
    raise ConfigError(
        f"{settings.DB_ENV}={url!r} is not a postgresql:// URL; unset it to keep threads and memories "
        f"in SQLite files under AGENTLAB_HOME ({settings.home()})"
    )


UNREADABLE_FILE = (
    "{path} cannot be used as {what} ({problem}): move it aside (a new one is made), or set "
    "AGENTLAB_HOME to another folder"
)


class StoreFileError(ConfigError):
    """A SQLite file under `AGENTLAB_HOME` is not a usable database (corrupt, not SQLite,
    a folder...)."""


def _sqlite_problem(path: Path, what: str, exc: sqlite3.Error | OSError) -> StoreFileError:
    problem = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return StoreFileError(UNREADABLE_FILE.format(path=path, what=what, problem=problem))


class UnavailableStore(BaseStore):
    """Stands in for a long-term store that could not be opened. Every operation raises
    the reason, so a run records `memory_error` events and answers without memories."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        raise StoreFileError(self.reason)

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        raise StoreFileError(self.reason)


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

    path = (home or settings.home()) / THREADS_FILE
    try:
        conn = connect(path)
        stack.callback(conn.close)
        sqlite_saver = SqliteSaver(conn, serde=serializer())
        sqlite_saver.setup()
    except (sqlite3.Error, OSError) as exc:
        raise _sqlite_problem(path, "the threads database", exc) from None
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
    path = (home or settings.home()) / MEMORY_FILE
    try:
        store = AgentlabSqliteStore.open(path, embed=embed)
    except (sqlite3.Error, OSError) as exc:
        raise _sqlite_problem(path, "the memory database", exc) from None
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
            try:
                backends.store = open_store(backends._stack, home)
            except StoreFileError as exc:
                # A broken memory file must not stop the run: it runs without memories
                # and its trace says why (`memory_error`).
                backends.store = UnavailableStore(str(exc))
    except BaseException:
        backends.close()
        raise
    return backends
