"""Budget checks: which limit, if any, a run has reached, as a typed `Budget` stop."""

from __future__ import annotations

import time

from agentlab.config import Budgets
from agentlab.state import AgentState, Counters
from agentlab.stops import Budget


def budget_exhausted(
    state: AgentState,
    budgets: Budgets,
    *,
    spent: Counters | None = None,
    llm_calls: int = 0,
    tool_calls: int = 0,
) -> Budget | None:
    """The exhausted budget, or None when `llm_calls`/`tool_calls` more fit.

    `spent` is what the current node has used on top of the state's counters.
    """
    counters = (state.get("counters") or Counters()) + (spent or Counters())
    if llm_calls and counters.llm_calls + llm_calls > budgets.max_llm_calls:
        return Budget(budget="llm_calls", used=counters.llm_calls, limit=budgets.max_llm_calls)
    if tool_calls and counters.tool_calls + tool_calls > budgets.max_steps:
        return Budget(budget="steps", used=counters.tool_calls, limit=budgets.max_steps)
    if counters.tokens >= budgets.max_tokens:
        return Budget(budget="tokens", used=counters.tokens, limit=budgets.max_tokens)
    elapsed = time.time() - state.get("started_at", time.time())
    if elapsed > budgets.max_seconds:
        return Budget(budget="time", used=round(elapsed, 3), limit=budgets.max_seconds)
    return None


def replans_exhausted(state: AgentState, budgets: Budgets) -> Budget | None:
    """The `replans` budget when another plan would exceed `max_replans`."""
    counters = state.get("counters") or Counters()
    if counters.replans >= budgets.max_replans:
        return Budget(budget="replans", used=counters.replans, limit=budgets.max_replans)
    return None
