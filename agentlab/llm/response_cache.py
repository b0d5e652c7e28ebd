"""An exact cache of model replies, content-addressed by everything that decides the reply.

The key is a sha256 of the model's identity (spec and the parameters its
backend reports), the request's messages, the schema and the decoding
settings; the value is the reply text and what it cost. Off by default: on
for `agentlab eval --cache`, so re-running a finished study (after a grading
fix, say) replays every reply without a model call. Only deterministic
decoding should be cached; agentlab decodes greedily (temperature 0).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage

from agentlab import settings
from agentlab.llm.structured import ChatModelLike, inner_chat_models, server_key

_SCHEMA = """
CREATE TABLE IF NOT EXISTS replies (
    key TEXT PRIMARY KEY,
    reply TEXT NOT NULL,
    tokens_in INTEGER NOT NULL,
    tokens_out INTEGER NOT NULL,
    structured TEXT,
    created REAL NOT NULL
)
"""


def default_cache_path() -> Path:
    """`AGENTLAB_HOME/cache/model-replies.sqlite`."""
    return settings.home() / "cache" / "model-replies.sqlite"


@dataclass(frozen=True, slots=True)
class CachedReply:
    """A reply as the cache keeps it."""

    text: str
    tokens_in: int
    tokens_out: int
    structured: str | None


def model_identity(name: str, model: ChatModelLike) -> list[Any]:
    """What names a model for the cache: its spec and each backend's reported parameters
    (and server, for OpenAI-compatible ones)."""
    identity: list[Any] = [name]
    for inner in inner_chat_models(model):
        params = dict(inner._identifying_params)
        if hasattr(inner, "openai_api_base"):
            params["server"] = server_key(inner)
        identity.append({"class": type(inner).__name__, "params": params})
    return identity


def request_key(
    identity: list[Any],
    messages: list[BaseMessage],
    schema: dict[str, Any] | None,
    settings: dict[str, Any],
) -> str:
    """The sha256 of a request's canonical JSON form."""
    body = {
        "model": identity,
        "messages": [{"role": m.type, "content": m.content} for m in messages],
        "schema": schema,
        "settings": settings,
    }
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ResponseCache:
    """Replies in one SQLite file, shared by threads and processes (WAL, busy timeout)."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        with self._lock, self._db:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)

    def __reduce__(self) -> tuple[type[ResponseCache], tuple[Path]]:
        # A worker process (eval -j N) opens its own connection to the same file.
        return (ResponseCache, (self.path,))

    def get(self, key: str) -> CachedReply | None:
        with self._lock:
            row = self._db.execute(
                "SELECT reply, tokens_in, tokens_out, structured FROM replies WHERE key = ?",
                (key,),
            ).fetchone()
        if row is None:
            return None
        return CachedReply(str(row[0]), int(row[1]), int(row[2]), row[3])

    def put(self, key: str, reply: CachedReply) -> None:
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO replies VALUES (?, ?, ?, ?, ?, ?)",
                (key, reply.text, reply.tokens_in, reply.tokens_out, reply.structured, time.time()),
            )

    def __len__(self) -> int:
        with self._lock:
            (count,) = self._db.execute("SELECT count(*) FROM replies").fetchone()
        return int(count)

    def close(self) -> None:
        with self._lock:
            self._db.close()
