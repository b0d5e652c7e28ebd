"""`--record PATH`: every model exchange of a run, as a replayable cassette."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import IO, Any

from langchain_core.messages import BaseMessage

from agentlab.trace import redact


def message_dicts(messages: list[BaseMessage]) -> list[dict[str, Any]]:
    """Messages as `{"role", "content"}` objects, the form cassettes and traces store."""
    return [{"role": m.type, "content": m.content} for m in messages]


class CassetteRecorder:
    """Appends one JSON object per model call; the file replays with `replay:PATH`."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle: IO[str] = self.path.open("w", encoding="utf-8")
        self._lock = threading.Lock()

    def record(self, **entry: Any) -> None:
        line = json.dumps(redact(entry), ensure_ascii=False)
        with self._lock:
            self._handle.write(line + "\n")
            self._handle.flush()

    def close(self) -> None:
        with self._lock:
            self._handle.close()
