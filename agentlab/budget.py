"""Budget checks: which limit, if any, a run has reached."""

from __future__ import annotations

import time

from agentlab.config import Budgets
from agentlab.state import AgentState, Counters


def budget_exhausted(
    state: AgentState,
    budgets: Budgets,
    *,
    spent: Counters | None = None,
    llm_calls: int = 0,
    tool_calls: int = 0,
) -> str | None:
    """A sentence naming the exhausted budget, or None when `llm_calls`/`tool_calls` more fit.

    `spent` is what the current node has used on top of the state's counters.
    """
    counters = (state.get("counters") or Counters()) + (spent or Counters())
    if llm_calls and counters.llm_calls + llm_calls > budgets.max_llm_calls:
        return f"LLM calls: {counters.llm_calls} of {budgets.max_llm_calls} used"
    if tool_calls and counters.tool_calls + tool_calls > budgets.max_steps:
        return f"steps: {counters.tool_calls} of {budgets.max_steps} tool calls used"
    if counters.tokens >= budgets.max_tokens:
        return f"tokens: {counters.tokens} of {budgets.max_tokens} used"
    elapsed = time.time() - state.get("started_at", time.time())
    if elapsed > budgets.max_seconds:
        return f"time: {elapsed:.0f} s of {budgets.max_seconds:.0f} s used"
    return None


def replans_exhausted(state: AgentState, budgets: Budgets) -> str | None:
    """A sentence when another plan would exceed `max_replans`."""
    counters = state.get("counters") or Counters()
    if counters.replans >= budgets.max_replans:
        return f"replans: {counters.replans} of {budgets.max_replans} used"
    return None
