"""A thread's conversation kept within a token budget: the oldest turns are cut with
langchain-core's `trim_messages` and folded into one running summary message."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from langchain_core.messages import (
    AnyMessage,
    BaseMessage,
    HumanMessage,
    RemoveMessage,
    SystemMessage,
    trim_messages,
)
from langchain_core.messages.utils import count_tokens_approximately
from langgraph.graph.message import REMOVE_ALL_MESSAGES

SUMMARY_ID = "agentlab-conversation-summary"
SUMMARY_PREFIX = "Summary of the earlier conversation: "
SUMMARY_REQUEST = (
    "SUMMARIZE\nBelow is the earlier part of a conversation between a user and you. "
    "Write a short summary (at most five sentences) that keeps every fact, number, "
    "preference and answer a later question may need. Reply with the summary only.\n"
    "{previous}Conversation:\n{lines}"
)


@dataclass(frozen=True, slots=True)
class Overflow:
    """What trimming cut: the previous summary, the messages cut, and the messages kept."""

    summary: str
    cut: list[AnyMessage]
    kept: list[AnyMessage]


def summary_of(messages: Sequence[BaseMessage]) -> str:
    """The running summary held at the head of `messages`, or ""."""
    if messages and messages[0].id == SUMMARY_ID:
        return str(messages[0].content).removeprefix(SUMMARY_PREFIX)
    return ""


def overflow(messages: Sequence[AnyMessage], budget: int) -> Overflow | None:
    """None when the conversation fits `budget` tokens; else what to cut so it fits half."""
    summary = summary_of(messages)
    turns = list(messages[1:] if summary else messages)
    if count_tokens_approximately(turns) <= budget:
        return None
    kept: list[AnyMessage] = trim_messages(  # type: ignore[assignment]
        turns,
        max_tokens=budget // 2,
        token_counter=count_tokens_approximately,
        strategy="last",
        start_on="human",
        allow_partial=False,
    )
    cut = turns[: len(turns) - len(kept)]
    return Overflow(summary, cut, kept) if cut else None


def summary_request(cut: Overflow) -> list[BaseMessage]:
    previous = f"Summary so far: {cut.summary}\n" if cut.summary else ""
    lines = "\n".join(f"{m.type}: {m.content}" for m in cut.cut)
    return [HumanMessage(content=SUMMARY_REQUEST.format(previous=previous, lines=lines))]


def replace_history(summary: str, kept: Sequence[AnyMessage]) -> list[BaseMessage]:
    """`messages` updates that leave [summary, *kept] (the reducer then appends the new task)."""
    return [
        RemoveMessage(id=REMOVE_ALL_MESSAGES),
        SystemMessage(content=SUMMARY_PREFIX + summary.strip(), id=SUMMARY_ID),
        *kept,
    ]
