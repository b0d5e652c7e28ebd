"""What a finished run leaves for later runs: a lesson when it hit failures
(what went wrong and what worked, Reflexion-style), and the plan that answered.

Written from the run's state by templates, with no model call, so remembering
costs nothing and replayed runs stay replayable.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from agentlab.failures import FailureEvent
from agentlab.prompts import clip
from agentlab.schemas import Plan
from agentlab.state import AgentState, StepResult

MAX_FAILURES = 3
MAX_TASK_CHARS = 160


def _call(tool: str, args: dict[str, object]) -> str:
    inner = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in args.items())
    return f"{tool}({inner})"


def plan_outline(plan: Plan, results: dict[str, StepResult] | None = None) -> str:
    """`s1 calculator(expression="17*23") -> 391; s2 ...` (results when known)."""
    parts = []
    for step in plan.steps:
        text = f"{step.id} {_call(step.tool, step.args)}"
        result = (results or {}).get(step.id)
        if result is not None and result.status == "ok":
            text += f" -> {clip(result.output, 60)}"
        parts.append(text)
    return "; ".join(parts)


def _what_went_wrong(failures: Sequence[FailureEvent]) -> str:
    seen: dict[str, str] = {}
    for failure in failures:
        seen.setdefault(str(failure.category), clip(failure.detail, 140))
    items = [f"{category} ({detail})" for category, detail in list(seen.items())[:MAX_FAILURES]]
    more = len(seen) - MAX_FAILURES
    return "; ".join(items) + (f"; and {more} more" if more > 0 else "")


def lesson_text(state: AgentState) -> str | None:
    """A lesson when the run hit failures; None for a clean run."""
    failures = state.get("failures") or []
    if not failures:
        return None
    task = clip(state.get("task", ""), MAX_TASK_CHARS)
    text = f"Lesson from the task {task!r}: went wrong: {_what_went_wrong(failures)}."
    plan = state.get("plan")
    if state.get("status") == "answered" and plan is not None and plan.steps:
        text += f" What worked: {plan_outline(plan)}."
    else:
        detail = state.get("status_detail") or state.get("status") or "no answer"
        text += f" It ended without an answer ({clip(detail, 120)}); plan differently."
    return text


def plan_text(state: AgentState) -> str | None:
    """The plan that answered the task, with its answer; None when the run did not answer."""
    plan = state.get("plan")
    if state.get("status") != "answered" or plan is None or not plan.steps:
        return None
    task = clip(state.get("task", ""), MAX_TASK_CHARS)
    answer = clip(state.get("answer") or "", 80)
    return (
        f"Plan that answered {task!r}: {plan_outline(plan, state.get('results'))}. Answer: {answer}"
    )
