"""`LongTermMemory`: typed memories in a LangGraph store, namespaced per user and agent.

Works on any `BaseStore`. Ranking comes from the store's query search when it
has one (`AgentlabSqliteStore`, or a store with an embedding index); on a store
without (a Postgres store without pgvector, a bare `InMemoryStore`) memories
are ranked by BM25 here.

Writing resolves rather than duplicates:
- a fact on a subject that already has a fact replaces it and keeps a note of
  what it superseded (preferences without a named subject take the subject of
  the nearest stored preference on the same topic);
- a near-duplicate lesson or plan (same task, or almost the same text) is
  merged into the stored one: newest text, `seen` counted, sources kept.
"""

from __future__ import annotations

import builtins
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from langgraph.store.base import BaseStore, Item, SearchItem
from pydantic import BaseModel, ConfigDict, Field

from agentlab.memory.facts import PREFERENCE
from agentlab.memory.index import Key, LexicalIndex, words
from agentlab.memory.sqlite_store import AgentlabSqliteStore

ROOT = "memories"
MAX_SOURCES = 10
MAX_SCAN = 10_000
"""Memories ranked in Python when the store cannot rank by itself."""


class MemoryKind(StrEnum):
    FACT = "fact"
    LESSON = "lesson"
    PLAN = "plan"


Source = Literal["user", "agent"]
"""Who a memory's text comes from (see `Provenance.source`)."""

SOURCE_OF_KIND: dict[MemoryKind, Source] = {
    MemoryKind.FACT: "user",
    MemoryKind.LESSON: "agent",
    MemoryKind.PLAN: "agent",
}
"""Where agentlab's own memories come from, by kind."""


class Provenance(BaseModel):
    """Where a memory's current text came from."""

    model_config = ConfigDict(frozen=True)

    run_id: str | None = None
    """The run that wrote the current text."""
    kind: MemoryKind
    source: Source
    """`user`: the user's own words (a fact stated in a task). `agent`: what the agent decided
    (the tool calls it planned, the failure categories it hit, whether it answered) around the
    task as the user wrote it. Neither holds a tool's output."""


class Superseded(BaseModel):
    """A fact that a newer one replaced."""

    text: str
    source_run: str | None = None
    replaced_at: str


class Memory(BaseModel):
    """One long-term memory, as stored (the id is the store key)."""

    id: str
    kind: MemoryKind
    text: str
    subject: str | None = None
    """Facts only: what the fact is about; one current fact per subject."""
    task: str | None = None
    source_run: str | None = None
    sources: list[str] = Field(default_factory=list)
    """Runs that stated or confirmed this memory, newest last."""
    created_at: str
    updated_at: str
    seen: int = 1
    supersedes: list[Superseded] = Field(default_factory=list)
    provenance: Provenance | None = None
    """None for memories stored before provenance was recorded (they may quote tool output)."""

    def value(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"id"})

    @classmethod
    def from_item(cls, item: Item) -> Memory:
        return cls.model_validate({**item.value, "id": item.key})

    def line(self) -> str:
        """How the planner's prompt shows it."""
        return f"{self.kind.value}: {self.text}"


class Recalled(BaseModel):
    memory: Memory
    score: float | None


Action = Literal["added", "merged", "replaced"]


class Stored(BaseModel):
    """What `remember` did."""

    action: Action
    memory: Memory


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _same_words(a: str, b: str) -> float:
    left, right = set(words(a)), set(words(b))
    if not left or not right:
        return 1.0 if a.strip().lower() == b.strip().lower() else 0.0
    return len(left & right) / len(left | right)


def namespace_label(name: str) -> str:
    """`name` as a LangGraph namespace label, which may not hold a `.` nor be empty:
    `%` and `.` are percent-encoded, so `ada.l@example.org` is a user like any other and
    names without them are stored as they are."""
    return name.replace("%", "%25").replace(".", "%2E") or "%"


class LongTermMemory:
    """Memories of one user with one agent, in `store` under `("memories", user, agent)`."""

    DUPLICATE_SCORE = 0.95
    """Cosine similarity at which a lesson or plan counts as the same one."""
    DUPLICATE_WORDS = 0.9
    """Word overlap (Jaccard) at which a lesson or plan counts as the same one."""
    SAME_TOPIC = 0.55
    """Cosine similarity at which two preferences are about the same thing (measured:
    tea/coffee 0.74, French/English answers 0.78, tea/dark mode 0.26)."""
    MIN_RECALL_SCORE = 0.25
    """Cosine similarity below which a memory is not shown to the planner."""

    def __init__(
        self, store: BaseStore, *, user: str = "default", agent: str = "agentlab", k: int = 3
    ) -> None:
        self.store = store
        self.namespace = (ROOT, namespace_label(user), namespace_label(agent))
        self.k = k

    @property
    def semantic(self) -> bool:
        """Whether scores are cosine similarities (else BM25 scores or none)."""
        return getattr(self.store, "index_config", None) is not None

    # -- reading ------------------------------------------------------------------------

    def search(
        self, query: str, *, limit: int = 10, kind: MemoryKind | None = None
    ) -> list[Recalled]:
        """Memories ranked by relevance to `query`, best first."""
        filter_ = {"kind": kind.value} if kind is not None else None
        if self._store_ranks():
            items = self.store.search(self.namespace, query=query, filter=filter_, limit=limit)
            return [Recalled(memory=Memory.from_item(i), score=i.score) for i in items]
        return self._rank_here(query, limit, filter_)

    def recall(self, query: str, k: int | None = None) -> list[Recalled]:
        """The top-k memories relevant enough to show the planner."""
        found = self.search(query, limit=k or self.k)
        if self.semantic:
            found = [r for r in found if (r.score or 0.0) >= self.MIN_RECALL_SCORE]
        else:
            found = [r for r in found if (r.score or 0.0) > 0.0]
        return found

    def list(self, *, kind: MemoryKind | None = None, limit: int = 1000) -> list[Memory]:
        """Memories, most recently updated first."""
        filter_ = {"kind": kind.value} if kind is not None else None
        items = self.store.search(self.namespace, filter=filter_, limit=limit)
        return [Memory.from_item(i) for i in items]

    def get(self, memory_id: str) -> Memory | None:
        item = self.store.get(self.namespace, memory_id)
        return Memory.from_item(item) if item is not None else None

    def forget(self, memory_id: str) -> bool:
        """Delete a memory; False when there is none with that id."""
        if self.store.get(self.namespace, memory_id) is None:
            return False
        self.store.delete(self.namespace, memory_id)
        return True

    def export(self) -> builtins.list[dict[str, Any]]:
        """Every memory as JSON-ready dicts, oldest first."""
        memories = sorted(self.list(limit=MAX_SCAN), key=lambda m: m.created_at)
        return [m.model_dump(mode="json") for m in memories]

    def _store_ranks(self) -> bool:
        return self.semantic or isinstance(self.store, AgentlabSqliteStore)

    def _rank_here(
        self, query: str, limit: int, filter_: dict[str, Any] | None
    ) -> builtins.list[Recalled]:
        items = self.store.search(self.namespace, filter=filter_, limit=MAX_SCAN)
        index = LexicalIndex()
        by_key: dict[Key, SearchItem] = {}
        for item in items:
            key = ("", item.key)
            by_key[key] = item
            index.upsert(key, str(item.value.get("text", "")))
        return [
            Recalled(memory=Memory.from_item(by_key[key]), score=score)
            for key, score in index.search("", query, limit)
        ]

    # -- writing ------------------------------------------------------------------------

    def remember(
        self,
        kind: MemoryKind,
        text: str,
        *,
        subject: str | None = None,
        task: str | None = None,
        source_run: str | None = None,
        source: Source | None = None,
    ) -> Stored:
        """Store a memory, merging it into a near-duplicate or replacing the fact it contradicts.

        `source` says who the text comes from (default: by kind, facts from the user);
        with `source_run` it is recorded as the memory's provenance.
        """
        provenance = Provenance(run_id=source_run, kind=kind, source=source or SOURCE_OF_KIND[kind])
        if kind is MemoryKind.FACT:
            current = self._current_fact(text, subject or PREFERENCE)
            if current is not None:
                return self._resolve_fact(current, text, provenance)
        else:
            duplicate = self._duplicate(kind, text, task)
            if duplicate is not None:
                return self._merge(duplicate, text, provenance)
        now = _now()
        memory = Memory(
            id=uuid.uuid4().hex[:12],
            kind=kind,
            text=text,
            subject=subject if kind is MemoryKind.FACT else None,
            task=task,
            source_run=source_run,
            sources=[source_run] if source_run else [],
            created_at=now,
            updated_at=now,
            provenance=provenance,
        )
        self._put(memory)
        return Stored(action="added", memory=memory)

    def _put(self, memory: Memory) -> None:
        self.store.put(self.namespace, memory.id, memory.value(), index=["text"])

    def _current_fact(self, text: str, subject: str) -> Memory | None:
        """The stored fact on `subject`; for a bare preference, the nearest on the same topic."""
        if subject != PREFERENCE:
            items = self.store.search(
                self.namespace, filter={"kind": MemoryKind.FACT.value, "subject": subject}, limit=1
            )
            return Memory.from_item(items[0]) if items else None
        found = self.search(text, limit=5, kind=MemoryKind.FACT)
        for recalled in found:
            memory = recalled.memory
            if memory.subject != PREFERENCE:
                continue
            same = (
                (recalled.score or 0.0) >= self.SAME_TOPIC
                if self.semantic
                else _same_words(memory.text, text) >= 0.5
            )
            if same:
                return memory
        return None

    def _resolve_fact(self, current: Memory, text: str, provenance: Provenance) -> Stored:
        if _same_words(current.text, text) == 1.0:
            return self._merge(current, text, provenance)
        note = Superseded(text=current.text, source_run=current.source_run, replaced_at=_now())
        replaced = current.model_copy(
            update={
                "text": text,
                "source_run": provenance.run_id,
                "sources": _sources(current.sources, provenance.run_id),
                "updated_at": note.replaced_at,
                "seen": 1,
                "supersedes": [*current.supersedes, note],
                "provenance": provenance,
            }
        )
        self._put(replaced)
        return Stored(action="replaced", memory=replaced)

    def _duplicate(self, kind: MemoryKind, text: str, task: str | None) -> Memory | None:
        for recalled in self.search(text, limit=3, kind=kind):
            memory = recalled.memory
            same_task = task is not None and _norm(memory.task) == _norm(task)
            close = (
                self.semantic and (recalled.score or 0.0) >= self.DUPLICATE_SCORE
            ) or _same_words(memory.text, text) >= self.DUPLICATE_WORDS
            if same_task or close:
                return memory
        return None

    def _merge(self, current: Memory, text: str, provenance: Provenance) -> Stored:
        # The newest text replaces the stored one, so its provenance does too.
        merged = current.model_copy(
            update={
                "text": text,
                "seen": current.seen + 1,
                "sources": _sources(current.sources, provenance.run_id),
                "updated_at": _now(),
                "provenance": provenance,
            }
        )
        self._put(merged)
        return Stored(action="merged", memory=merged)


def _norm(text: str | None) -> str:
    return " ".join((text or "").lower().split())


def _sources(sources: list[str], new: str | None) -> list[str]:
    if not new or new in sources:
        return sources
    return [*sources, new][-MAX_SOURCES:]
