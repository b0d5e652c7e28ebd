"""What a finished run leaves for later runs: a lesson when it hit failures
(what went wrong and what worked, Reflexion-style), and the plan that answered.

Written from the run's state by templates, with no model call, so remembering
costs nothing and replayed runs stay replayable.

Only what the agent itself decided is kept: the task as the user wrote it, the
plan's tool calls as the planner wrote them (`${id}` references stay
references), the failure categories with the step and tool each hit, and
whether the run answered. Never a tool's output, a failure's detail (it may
quote a tool error) or the answer (read off tool output): a page the agent read
once must not become an instruction in every later run's prompt. An argument
that repeats `COPIED_WORDS` words in a row of text the run read (tool output,
the reflector's words, the thread's answers) is withheld too, since a
replanning model is told to use earlier results' values directly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence

from agentlab.failures import FailureEvent
from agentlab.prompts import clip
from agentlab.schemas import Plan
from agentlab.state import AgentState

MAX_FAILURES = 3
MAX_TASK_CHARS = 160
COPIED_WORDS = 4
"""Words in a row shared with text the run read that make an argument a copy of it."""
WITHHELD = "(withheld: copied from tool output)"

_WORD = re.compile(r"\w+")
_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,40}")
"""A step id or tool name as memory shows it; anything else is shown as `?`."""

Shingle = tuple[str, ...]


def _shingles(text: str) -> set[Shingle]:
    words = _WORD.findall(text.lower())
    return {tuple(words[i : i + COPIED_WORDS]) for i in range(len(words) - COPIED_WORDS + 1)}


def _args_text(args: dict[str, object]) -> str:
    return json.dumps(args, ensure_ascii=False, default=str)


def _read_by_the_run(state: AgentState) -> Iterator[tuple[str, str]]:
    """(text, the arguments of the call that produced it or "") for everything the run read
    that neither the user nor the planner wrote."""
    calls = [*(state.get("past_calls") or {}).values(), *(state.get("results") or {}).values()]
    for result in calls:
        yield result.output, _args_text(result.args)
    for reflection in state.get("reflections") or []:
        yield f"{reflection.answer} {reflection.critique}", ""
    yield state.get("answer") or "", ""
    for message in state.get("messages") or []:
        if message.type != "human":
            yield str(message.content), ""


def outside_text(state: AgentState) -> set[Shingle]:
    """Word runs of text the run read from outside the agent's own decisions.

    A tool's output loses the runs that echo its own call's arguments (a traceback
    quoting the code), so that a fixed version of failed code is not taken for a copy.
    """
    seen: set[Shingle] = set()
    for text, echoed in _read_by_the_run(state):
        seen |= _shingles(text) - _shingles(echoed) if echoed else _shingles(text)
    return seen


def _name(text: str | None) -> str:
    return text if text is not None and _NAME.fullmatch(text) else "?"


def _value(value: object, outside: set[Shingle]) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return WITHHELD if _shingles(text) & outside else text


def _call(tool: str, args: dict[str, object], outside: set[Shingle]) -> str:
    inner = ", ".join(f"{_name(k)}={_value(v, outside)}" for k, v in args.items())
    return f"{_name(tool)}({inner})"


def plan_outline(plan: Plan, outside: set[Shingle] | None = None) -> str:
    """`s1 calculator(expression="17*23"); s2 calculator(expression="${s1}+4")`: the calls as
    the planner wrote them; an argument sharing a word run with `outside` is withheld."""
    return "; ".join(f"{_name(s.id)} {_call(s.tool, s.args, outside or set())}" for s in plan.steps)


def _what_went_wrong(failures: Sequence[FailureEvent]) -> str:
    # The category and where, never the detail: a detail may quote a tool's error.
    seen: dict[str, str] = {}
    for failure in failures:
        where = [f"step {_name(failure.step_id)}"] if failure.step_id else []
        where += [f"tool {_name(failure.tool)}"] if failure.tool else []
        seen.setdefault(str(failure.category), f" ({', '.join(where)})" if where else "")
    items = [category + where for category, where in list(seen.items())[:MAX_FAILURES]]
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
        text += f" What worked: {plan_outline(plan, outside_text(state))}."
    else:
        status = state.get("status") or "no_answer"
        text += f" It ended without an answer ({status}); plan differently."
    return text


def plan_text(state: AgentState) -> str | None:
    """The plan that answered the task; None when the run did not answer."""
    plan = state.get("plan")
    if state.get("status") != "answered" or plan is None or not plan.steps:
        return None
    task = clip(state.get("task", ""), MAX_TASK_CHARS)
    return f"Plan that answered {task!r}: {plan_outline(plan, outside_text(state))}."
