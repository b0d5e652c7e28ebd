"""`MemorySettings`: how an agent uses its memory (the switch itself is `AgentConfig.memory`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class MemorySettings:
    """Shared by the recall and remember nodes through `AgentDeps.memory`."""

    agent: str = "agentlab"
    """The agent's name in memory namespaces: memories are kept per user and agent."""

    recall_k: int = 3
    """Memories shown to the planner at most."""

    history_tokens: int = 2_000
    """A thread's earlier messages over this many tokens (approximate) are trimmed to half of
    it, and what is cut is summarised by the model into a running summary message."""

    default_user: str = "default"
    """The user when the run's context (`RunContext.user_id`) names none."""
