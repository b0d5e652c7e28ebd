"""How the recall and remember nodes find the run's long-term memory."""

from __future__ import annotations

from langchain_core.runnables import RunnableConfig
from langgraph.config import get_store

from agentlab.context import run_context
from agentlab.memory.long_term import LongTermMemory
from agentlab.memory.settings import MemorySettings


def run_memory(settings: MemorySettings, config: RunnableConfig) -> LongTermMemory | None:
    """The memory of this run's user and agent in the store the graph was compiled with;
    None when it was compiled without one."""
    try:
        store = get_store()
    except RuntimeError:
        return None
    if store is None:
        return None
    user = run_context(config).user_id or settings.default_user
    return LongTermMemory(store, user=user, agent=settings.agent, k=settings.recall_k)
