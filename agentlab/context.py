"""Run-scoped values, passed as LangGraph's typed runtime context (`context_schema`).

A caller that wants to fix a run's ids or whose memories it uses passes
`context=RunContext(...)` to `invoke`/`stream`; `Runner` does. The thread id
stays LangGraph's own (`config["configurable"]["thread_id"]`).
"""

from __future__ import annotations

from dataclasses import dataclass

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import get_runtime


@dataclass(frozen=True, kw_only=True, slots=True)
class RunContext:
    """What a run is told from outside; every field is optional."""

    run_id: str | None = None
    """The run's id (a fresh one when None); names its trace file."""
    task_id: str | None = None
    """The task's id in a suite (evaluations), written into the trace."""
    user_id: str | None = None
    """Whose long-term memories the run reads and writes (`MemorySettings.default_user`
    when None)."""


@dataclass(frozen=True, slots=True)
class RunScope:
    """The context of the run in progress, with the thread it runs on."""

    run_id: str | None
    task_id: str | None
    user_id: str | None
    thread_id: str | None


def run_context(config: RunnableConfig | None = None) -> RunScope:
    """The current run's context (inside a graph node), defaults filled in."""
    context = _current_context()
    configurable = dict((config or {}).get("configurable") or {})
    thread = configurable.get("thread_id")
    return RunScope(
        run_id=context.run_id,
        task_id=context.task_id,
        user_id=context.user_id,
        thread_id=str(thread) if thread is not None else None,
    )


def _current_context() -> RunContext:
    try:
        context: object = get_runtime(RunContext).context
    except (RuntimeError, KeyError):  # outside a graph run
        return RunContext()
    if isinstance(context, RunContext):
        return context
    if isinstance(context, dict):  # a server passes the context as JSON
        known = {k: str(v) for k, v in context.items() if k in _FIELDS and v is not None}
        return RunContext(**known)
    return RunContext()


_FIELDS = frozenset(RunContext.__dataclass_fields__)
