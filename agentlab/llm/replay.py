"""Replay cassettes: a chat model that returns recorded replies in order.

A cassette is a JSON-lines file, one object per model call in call order. Only
`"reply"` is required, so a hand-written cassette scripts a model; recorded
cassettes add the request messages, token counts and latency. Asking for more
replies than the cassette holds raises `ReplayExhaustedError`.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated, Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from agentlab.errors import ConfigError, ReplayExhaustedError

MAX_TOKENS_PER_CALL = 10_000_000
"""The most tokens a cassette may claim for one call (far beyond any context window)."""

TokenCount = Annotated[int, Field(strict=True, ge=0, le=MAX_TOKENS_PER_CALL)]


class CassetteEntry(BaseModel):
    """One model call of a cassette: the reply, and the token counts when recorded.

    Token counts feed the run's token budget, so they must be whole, non-negative
    and plausible; other recorded fields (messages, latency...) are kept as they are.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    reply: Annotated[str, Field(strict=True)]
    tokens_in: TokenCount | None = None
    tokens_out: TokenCount | None = None
    finish_reason: str | None = None
    """`length` replays a reply that was cut off at its token limit as cut off."""


def _problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"])
    if error["type"] == "missing":
        return f'each line must be an object with a "reply" string; {where} is missing'
    return f"{where}: {error['msg']} (got {error.get('input')!r:.40})"


def load_cassette(path: Path | str) -> list[CassetteEntry]:
    """The entries of a cassette file, each checked (`CassetteEntry`); a bad line raises
    `ConfigError` naming the file, the line and what is wrong with it."""
    cassette = Path(path)
    if not cassette.is_file():
        raise ConfigError(f"replay cassette {cassette} does not exist")
    try:
        data = cassette.read_bytes()
    except OSError as exc:
        raise ConfigError(f"replay cassette {cassette}: cannot read it ({exc.strerror})") from None
    entries: list[CassetteEntry] = []
    for number, raw in enumerate(data.splitlines(), 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"{cassette}:{number}: not UTF-8 (byte {exc.start + 1} of the line)"
            ) from None
        if not line.strip():
            continue
        try:
            entries.append(CassetteEntry.model_validate_json(line))
        except ValidationError as exc:
            if exc.errors()[0]["type"] in ("json_invalid", "model_type"):
                raise ConfigError(
                    f'{cassette}:{number}: not a JSON object with a "reply" string '
                    f"({exc.errors()[0]['msg']})"
                ) from None
            raise ConfigError(f"{cassette}:{number}: {_problem(exc)}") from None
    return entries


class ReplayChatModel(BaseChatModel):
    """Returns a cassette's replies in order and records the requests it received."""

    path: str
    _entries: list[CassetteEntry] = PrivateAttr(default_factory=list)
    _position: int = PrivateAttr(default=0)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _calls: list[list[BaseMessage]] = PrivateAttr(default_factory=list)
    _sampling: list[dict[str, Any]] = PrivateAttr(default_factory=list)

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
    def sampling(self) -> list[dict[str, Any]]:
        """The decoding each request asked for (`temperature`, `seed`; empty: greedy)."""
        return list(self._sampling)

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
            self._sampling.append({k: kwargs[k] for k in ("temperature", "seed") if k in kwargs})
        metadata = {"finish_reason": entry.finish_reason} if entry.finish_reason else {}
        message = AIMessage(content=entry.reply, response_metadata=metadata)
        if entry.tokens_in is not None and entry.tokens_out is not None:
            message.usage_metadata = {
                "input_tokens": entry.tokens_in,
                "output_tokens": entry.tokens_out,
                "total_tokens": entry.tokens_in + entry.tokens_out,
            }
        return ChatResult(generations=[ChatGeneration(message=message)])
