"""Replay cassettes: a chat model that returns recorded replies in order.

A cassette is a JSON-lines file, one object per model call in call order. Only
`"reply"` is required, so a hand-written cassette scripts a model; recorded
cassettes add the request messages, token counts and latency. Asking for more
replies than the cassette holds raises `ReplayExhaustedError`.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr

from agentlab.errors import ConfigError, ReplayExhaustedError


def load_cassette(path: Path | str) -> list[dict[str, Any]]:
    """The entries of a cassette file; every line must be an object with a string `reply`."""
    cassette = Path(path)
    if not cassette.is_file():
        raise ConfigError(f"replay cassette {cassette} does not exist")
    entries: list[dict[str, Any]] = []
    for number, line in enumerate(cassette.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{cassette}:{number}: not JSON ({exc.msg})") from None
        if not isinstance(entry, dict) or not isinstance(entry.get("reply"), str):
            raise ConfigError(
                f'{cassette}:{number}: each line must be an object with a "reply" string'
            )
        entries.append(entry)
    return entries


class ReplayChatModel(BaseChatModel):
    """Returns a cassette's replies in order and records the requests it received."""

    path: str
    _entries: list[dict[str, Any]] = PrivateAttr(default_factory=list)
    _position: int = PrivateAttr(default=0)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _calls: list[list[BaseMessage]] = PrivateAttr(default_factory=list)

    def model_post_init(self, context: Any) -> None:
        self._entries = load_cassette(self.path)

    @property
    def _llm_type(self) -> str:
        return "agentlab-replay"

    @property
    def calls(self) -> list[list[BaseMessage]]:
        """The messages of every request received so far, in order."""
        return list(self._calls)

    @property
    def remaining(self) -> int:
        return len(self._entries) - self._position

    def assert_complete(self) -> None:
        """Raise if replies were left unused: the run made fewer calls than recorded."""
        if self.remaining:
            raise AssertionError(
                f"replay cassette {self.path}: {self.remaining} of {len(self._entries)} "
                "replies were never requested"
            )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        with self._lock:
            if self._position >= len(self._entries):
                raise ReplayExhaustedError(
                    f"replay cassette {self.path} holds {len(self._entries)} replies; "
                    f"the run asked for reply {self._position + 1}"
                )
            entry = self._entries[self._position]
            self._position += 1
            self._calls.append(list(messages))
        message = AIMessage(content=entry["reply"])
        if "tokens_in" in entry and "tokens_out" in entry:
            message.usage_metadata = {
                "input_tokens": int(entry["tokens_in"]),
                "output_tokens": int(entry["tokens_out"]),
                "total_tokens": int(entry["tokens_in"]) + int(entry["tokens_out"]),
            }
        return ChatResult(generations=[ChatGeneration(message=message)])
