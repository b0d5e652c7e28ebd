"""What a plan's results say, without asking the model: the joiner's rules.

The plan's answer template is filled from its results; whether that answer can
stand (every step ran, every reference resolved, each result short and of a
kind that answers) decides, with the reflection policy, what happens next:
answer now, ask the reflector, or plan again (LLMCompiler's joiner, which is
only consulted when the plan's results do not already answer).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

from langchain_core.tools import BaseTool

from agentlab.config import ReflectionPolicy
from agentlab.errors import ToolError
from agentlab.events import JoinReason
from agentlab.fan_out import element_text
from agentlab.schemas import REFERENCE, TEMPLATE_REFERENCE, Plan
from agentlab.state import StepResult
from agentlab.tools.base import tool_answers_directly
from agentlab.tools.calculator import calculate
from agentlab.tools.registry import ToolRegistry

MAX_ANSWER_CHARS = 400
"""A result longer than this (a page of search hits) is not an answer by itself."""

Decision = Literal["answer", "reflect", "plan"]


@dataclass(frozen=True, slots=True)
class Judged:
    """The joiner's reading of a plan's results."""

    decision: Decision
    reason: JoinReason
    answer: str | None
    """The template's answer, when it resolved."""
    findings: tuple[str, ...] = ()
    """What the planner must fix, when the decision is to plan again."""


def fill_template(plan: Plan, results: dict[str, StepResult]) -> str | None:
    """The plan's answer with every `${id}` / `${id.arg}` replaced; None when a reference
    names a step without a successful result (or an argument it did not take)."""
    missing = False

    def replace(match: object) -> str:
        nonlocal missing
        step_id, arg, index = match.group(1), match.group(2), match.group(3)  # type: ignore[attr-defined]
        result = results.get(step_id)
        if index is not None and result is not None:
            element = element_text(result, int(index))
            missing = missing or element is None
            return (element or "").strip()
        if result is None or result.status != "ok":
            missing = True
            return ""
        if arg is None:
            return result.output.strip()
        value = result.args.get(arg)
        if not isinstance(value, str):
            missing = True
            return ""
        return value

    text = TEMPLATE_REFERENCE.sub(replace, plan.answer).strip()
    if missing or not text:
        return None
    # Arithmetic the plan wrote between its results (`${s1} + ${s2}`) is computed; an
    # operator that came from a result's own text (a date, a range) is not.
    skeleton = TEMPLATE_REFERENCE.sub("1", plan.answer)
    return computed(text) if plan.answer_references() and _OPERATOR.search(skeleton) else text


_ARITHMETIC = re.compile(r"^[\d\s.+\-*/()%^]+$")
_OPERATOR = re.compile(r"\d\s*[-+*/%^]+\s*[\d(]")


def computed(text: str) -> str:
    """A filled template that is arithmetic over results (`${s1} + ${s2}`, what models write
    when they mean the sum) computed by the calculator; any other text as it is."""
    if not _ARITHMETIC.match(text) or not _OPERATOR.search(text):
        return text
    try:
        return str(calculate(text).value)
    except ToolError:
        return text


def usable(plan: Plan, results: dict[str, StepResult], tools: ToolRegistry) -> bool:
    """Whether every result the template shows can stand as (part of) an answer: short,
    and from a tool whose output answers (not, say, a page of search hits)."""
    for step_id, arg in plan.answer_references():
        if arg is not None:
            continue  # the plan's own text, e.g. the code it wrote
        result = results[step_id]
        tool: BaseTool | None = tools.get(result.tool) if result.tool in tools else None
        if len(result.output) > MAX_ANSWER_CHARS or (tool and not tool_answers_directly(tool)):
            return False
    return True


def judge(
    plan: Plan,
    results: dict[str, StepResult],
    tools: ToolRegistry,
    policy: ReflectionPolicy,
) -> Judged:
    """What to do once every step of `plan` has run (see the module docstring)."""
    # A step whose condition was false is a branch not taken, not a failure.
    failed = [r for r in results.values() if r.status != "ok" and not r.not_taken]
    answer = fill_template(plan, results)
    if policy == "always":
        return Judged("reflect", "always", answer)
    if failed:
        findings = tuple(r.output for r in failed if r.status == "error")
        return Judged(
            "reflect" if policy == "on_failure" else "plan", "failed_steps", answer, findings
        )
    if not plan.answer.strip():
        # Facts gathered without an answer: the reflector reads the answer off the results
        # (or asks for the rest of the plan); without a reflector the planner goes again.
        return Judged("reflect" if policy == "on_failure" else "plan", "no_template", None)
    if answer is None:
        missing = [f"${{{i}}}" for i, _ in plan.answer_references() if i not in results]
        finding = f"the answer template refers to {', '.join(missing) or 'a step'} without a result"
        return Judged(
            "reflect" if policy == "on_failure" else "plan",
            "unresolved_answer",
            None,
            (finding,),
        )
    if not usable(plan, results, tools):
        return Judged("reflect" if policy == "on_failure" else "answer", "not_usable", answer)
    return Judged("answer", "clean", answer)


def same_answer_key(answer: str) -> str:
    """What candidate answers are compared by: case and spacing aside, numbers by value."""
    text = " ".join(answer.split()).casefold().rstrip(".")
    try:
        return str(Fraction(text.replace(",", "")))
    except (ValueError, ZeroDivisionError):
        return text


def majority(answers: list[str | None]) -> int | None:
    """The index of the first answer that most of `answers` agree on (None: no answer)."""
    keys = [same_answer_key(a) if a is not None else None for a in answers]
    counts = Counter(k for k in keys if k is not None)
    if not counts:
        return None
    best = max(counts.values())
    winners = {k for k, n in counts.items() if n == best}
    return next(i for i, k in enumerate(keys) if k in winners)


_CANDIDATE_ID = re.compile(r"^c(\d+)_(.+)$")


def candidate_of(step_id: str) -> tuple[int, str] | None:
    """`(candidate number, its own step id)` of a step id `prefixed` wrote, else None."""
    match = _CANDIDATE_ID.match(step_id)
    return (int(match.group(1)), match.group(2)) if match is not None else None


def prefixed(plan: Plan, number: int) -> Plan:
    """`plan` with its step ids, and its references to them, prefixed `c<number>_`."""
    prefix = f"c{number}_"
    own = {s.id for s in plan.steps}

    def renamed(match: re.Match[str]) -> str:
        if match.group(1) not in own:
            return match.group(0)
        index = f"[{match.group(2)}]" if match.group(2) is not None else ""
        return f"${{{prefix}{match.group(1)}{index}}}"

    def rename(value: Any) -> Any:
        if isinstance(value, str):
            return REFERENCE.sub(renamed, value)
        if isinstance(value, dict):
            return {k: rename(v) for k, v in value.items()}
        if isinstance(value, list):
            return [rename(v) for v in value]
        return value

    steps = [
        s.model_copy(
            update={
                "id": prefix + s.id,
                "args": rename(s.args),
                "for_each": rename(s.for_each),
                "when": rename(s.when),
            }
        )
        for s in plan.steps
    ]
    return plan.model_copy(update={"steps": steps})


def combine_candidates(candidates: list[Plan], valid: list[int]) -> Plan:
    """One plan running the `valid` candidates (1-based) side by side, ids prefixed."""
    return Plan(steps=[s for n in valid for s in prefixed(candidates[n - 1], n).steps])
