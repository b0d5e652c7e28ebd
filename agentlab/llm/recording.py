"""`--record PATH`: every model exchange of a run, as a replayable cassette.

Entries are redacted like trace events (a secret in a prompt or a reply is
replaced, so the replay differs there) and the file is owner-only.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import IO, Any

from langchain_core.messages import BaseMessage

from agentlab.private_files import open_private
from agentlab.redaction import Redactor, env_secrets
from agentlab.trace import serialise


def message_dicts(messages: list[BaseMessage]) -> list[dict[str, Any]]:
    """Messages as `{"role", "content"}` objects, the form cassettes and traces store."""
    return [{"role": m.type, "content": m.content} for m in messages]


class CassetteRecorder:
    """Appends one JSON object per model call; the file replays with `replay:PATH`."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._handle: IO[str] = open_private(self.path, "w")
        self._lock = threading.Lock()
        self._redact = Redactor(env_secrets())

    def record(self, **entry: Any) -> None:
        line = json.dumps(self._redact.redact_serialised(*serialise(entry)), ensure_ascii=False)
        with self._lock:
            self._handle.write(line + "\n")
            self._handle.flush()

    def close(self) -> None:
        with self._lock:
            self._handle.close()
