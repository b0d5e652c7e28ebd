"""A live line while the model generates: which node asked, tokens so far, the latest text.

Fed with LangGraph's `messages` stream (`Runner.run(stream_tokens=True)`); shown
only on a terminal, transient, so what stays on screen is the parsed plan and
the steps that follow. The model's text is shown as plain `Text`, never as markup.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessageChunk
from rich.console import Console
from rich.live import Live
from rich.text import Text

from agentlab.llm.structured import text_of


class ModelProgress:
    """Counts streamed tokens of the current model call and shows the tail of its text."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._live: Live | None = None
        self._node = ""
        self._tokens = 0
        self._text = ""

    def token(self, chunk: Any) -> None:
        """One `messages` stream chunk: `(message_chunk, metadata)`."""
        if not (isinstance(chunk, tuple) and len(chunk) == 2):
            return
        message, metadata = chunk
        if not isinstance(message, AIMessageChunk):
            return  # a whole message: the reply of a backend that does not stream
        text = text_of(message.content)
        if not text:
            return
        node = str(metadata.get("langgraph_node", "model")) if isinstance(metadata, dict) else ""
        if self._live is None or node != self._node:
            self.stop()
            self._node = node
            self._live = Live(
                self._line(), console=self.console, transient=True, refresh_per_second=8
            )
            self._live.start()
        self._tokens += 1
        self._text = (self._text + text)[-400:]
        self._live.update(self._line())

    def _line(self) -> Text:
        head = f"{self._node or 'model'} · {self._tokens} tokens "
        room = max(10, self.console.width - len(head) - 1)
        tail = " ".join(self._text.split())[-room:]
        return Text.assemble((head, "dim"), tail, no_wrap=True, overflow="ellipsis")

    def stop(self) -> None:
        """Clear the line (the call has ended and its result is about to print)."""
        if self._live is not None:
            self._live.stop()
        self._live = None
        self._node, self._tokens, self._text = "", 0, ""
