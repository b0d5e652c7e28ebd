"""Static checks of a plan against the inventory, run without executing anything.

The validator applies all of them to a whole plan; the executor applies the
per-step ones when the validator is switched off, so a bad plan is recorded
under the same categories either way.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from langchain_core.tools import BaseTool

from agentlab import code_examples, conditions, fan_out
from agentlab.config import Budgets
from agentlab.execution import call_key
from agentlab.failures import FailureCategory
from agentlab.schemas import REFERENCE, TEMPLATE_REFERENCE, Plan, Step, is_step_id
from agentlab.tools.arguments import argument_schema, problem_text
from agentlab.tools.registry import ToolRegistry

UNKNOWN_TOOL = "step {step}: unknown tool {tool!r}; use one of: {known}"
MISSING_ARGUMENT = "step {step}: {tool} needs argument {arg!r}"
UNEXPECTED_ARGUMENT = "step {step}: {tool} has no argument {arg!r}; it takes: {known}"
WRONG_ARGUMENT = "step {step}: {tool} argument {arg!r}: {problem}"
BARE_REFERENCE = (
    "step {step}: argument {arg!r} uses {ref} as a value; "
    "write ${{{ref}}} to use step {ref}'s result"
)
ANSWER_ONLY_REFERENCE = (
    "step {step}: argument {arg!r} uses ${{{ref}.{name}}}, which only the answer may use; "
    "in a step, ${{{ref}}} is step {ref}'s result (to answer with step {ref}'s {name}, "
    "leave this step out and set the answer to ${{{ref}.{name}}})"
)
MISSING_REFERENCE = "step {step}: ${{{ref}}} refers to no step of the plan"
LATER_REFERENCE = "step {step}: ${{{ref}}} refers to a step that has not run before it"
MISSING_SOURCE = "step {step}: for_each ${{{ref}}} names no step of the plan; fan out over a list or an earlier step's result"
LATER_SOURCE = "step {step}: for_each ${{{ref}}} names a step that has not run before it; the list must come from an earlier step"
MISSING_CONDITION = "step {step}: its condition refers to ${{{ref}}}, which is no step of the plan"
LATER_CONDITION = (
    "step {step}: its condition refers to ${{{ref}}}, a step that has not run before it"
)
BAD_SOURCE = "step {step}: for_each must be a list or one ${{id}} of an earlier step, not {source}"
BAD_ITEM_NAME = (
    'step {step}: item name {name!r} {problem}; name the item e.g. "city" and write ${{city}}'
)
BAD_CONDITION = "step {step}: condition {condition!r} {problem}"
BAD_INDEX = "step {step}: ${{{ref}[{index}]}} is past the end of {ref}'s {n} items"
ITEM_ARGUMENTS = "for item {index} ({item}): {detail}"
FAN_OUT_OVER_BUDGET = (
    "the plan makes {n} tool calls (a for_each counts each item); at most {limit} are "
    "allowed: fan out over fewer items or drop steps"
)
BAD_ID = (
    "step id {shown} is not a plain id: use a letter or _, then letters, digits, _ or - "
    "(at most 32 characters), e.g. s1"
)
DUPLICATE_ID = "step id {step!r} is used by more than one step; give each step its own id"
OVER_BUDGET = "the plan has {n} steps; at most {limit} are allowed: combine or drop steps"


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem in a plan, under its failure category."""

    category: FailureCategory
    detail: str
    step_id: str | None = None
    tool: str | None = None
    args: dict[str, Any] | None = None


def strings_in(value: Any) -> Iterator[str]:
    """Every string in `value`: itself, or nested in lists and dicts."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings_in(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings_in(v)


def has_reference(value: Any) -> bool:
    """Whether `value` (a string, or any value nested in lists and dicts) holds a `${id}`."""
    return any(REFERENCE.search(text) for text in strings_in(value))


def _value_at(args: dict[str, Any], arg: str, path: tuple[str | int, ...]) -> Any:
    """The value a problem points at (the argument, or a value inside it)."""
    value: Any = args.get(arg)
    for part in path:
        if isinstance(value, dict) and part in value:
            value = value[part]
            continue
        if isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value):
            value = value[part]
            continue
        break
    return value


def argument_findings(step: Step, tool: BaseTool, args: dict[str, Any]) -> list[Finding]:
    """Problems of `args` against the tool's argument schema (`ArgumentSchema`, however the
    tool declared it); a value holding a `${id}` is not type-checked: it is only known once
    the reference resolves."""
    schema = argument_schema(tool)
    findings: list[Finding] = []

    def finding(template: str, **values: Any) -> Finding:
        return Finding(
            FailureCategory.PLANNING_INVALID_ARGUMENTS,
            template.format(step=step.id, tool=tool.name, **values),
            step.id,
            tool.name,
            args,
        )

    known = ", ".join(schema.properties) or "no arguments"
    for problem in schema.problems(args):
        if problem.kind == "unexpected":
            findings.append(finding(UNEXPECTED_ARGUMENT, arg=problem.arg, known=known))
        elif problem.kind == "missing":
            findings.append(finding(MISSING_ARGUMENT, arg=problem.arg))
        elif not has_reference(_value_at(args, problem.arg, problem.path)):
            shown = problem.arg or "(arguments)"
            findings.append(finding(WRONG_ARGUMENT, arg=shown, problem=problem_text(problem)))
    return findings


def shown_id(step_id: str) -> str:
    """A step id as messages quote it: repr'd, and cut when it is long."""
    text = repr(step_id)
    return text if len(text) <= 40 else text[:37] + "..."


def id_finding(step: Step) -> Finding | None:
    """`planning.bad_reference` when the step's id is not a plain id (`STEP_ID_PATTERN`).

    Ids name artifact files and are what `${id}` refers to, so a step with another id
    never runs. The finding carries no step id: the bad one is only quoted, shortened.
    """
    if is_step_id(step.id):
        return None
    detail = BAD_ID.format(shown=shown_id(step.id))
    return Finding(FailureCategory.PLANNING_BAD_REFERENCE, detail, None, step.tool, step.args)


def tool_finding(step: Step, tools: ToolRegistry) -> Finding | None:
    """`planning.invalid_tool` when the step names a tool outside the inventory."""
    if step.tool in tools:
        return None
    return Finding(
        FailureCategory.PLANNING_INVALID_TOOL,
        UNKNOWN_TOOL.format(step=step.id, tool=step.tool, known=", ".join(tools.names())),
        step.id,
        step.tool,
        step.args,
    )


def _answer_only_references(value: Any) -> list[tuple[str, str]]:
    """The `${id.arg}` forms in a value (strings nested in lists and dicts): an answer
    template's, which a step's argument cannot use (nothing substitutes them there)."""
    return [
        (m[1], m[2])
        for text in strings_in(value)
        for m in TEMPLATE_REFERENCE.finditer(text)
        if m[2] is not None
    ]


CODE_ECHO = (
    "step {step}: its code re-uses ${{{ref}.code}}, which no step can run; the step was left "
    "out and the answer is step {ref}'s code"
)
BODY_ONLY = (
    "step {step}: its code is (part of) the body of the task's function without its def; "
    "step {into} runs it completed under the task's code"
)
MENDED_CODE = (
    "step {step}: its code did not compile as written inside the plan's JSON (the plan's "
    "closing brackets typed into it, or a docstring with one quote for three); it runs mended"
)
PYTHON = "python"


def without_code_echoes(plan: Plan) -> tuple[Plan, list[Finding]]:
    """A plan whose answer is code, without the steps that echo another step's code: the
    embedded model writes the function in s1, then a step `return ${s1.code}` that no step
    can run (only the answer may name a step's code), and repeats that plan until the
    replans run out, with a good function in s1 (HumanEval study). Each step left out is a
    finding to record, not a rejection; an answer that named its code names the code it
    echoed."""
    echoed: dict[str, str] = {}
    for step in plan.steps:
        codes = [ref for ref, name in _answer_only_references(step.args) if name == "code"]
        if codes:
            echoed[step.id] = codes[0]
    if not echoed:
        return plan, []

    def origin(step_id: str) -> str:
        seen: set[str] = set()
        while step_id in echoed and step_id not in seen:
            seen.add(step_id)
            step_id = echoed[step_id]
        return step_id

    def renamed(match: re.Match[str]) -> str:
        if match[2] == "code" and match[1] in echoed:
            return f"${{{origin(match[1])}.code}}"
        return match[0]

    findings = [
        Finding(
            FailureCategory.PLANNING_BAD_REFERENCE,
            CODE_ECHO.format(step=step.id, ref=origin(step.id)),
            step.id,
            step.tool,
            step.args,
        )
        for step in plan.steps
        if step.id in echoed
    ]
    kept = [s for s in plan.steps if s.id not in echoed]
    answer = TEMPLATE_REFERENCE.sub(renamed, plan.answer)
    return plan.model_copy(update={"steps": kept, "answer": answer}), findings


def with_mended_code(plan: Plan) -> tuple[Plan, list[Finding]]:
    """A code plan whose python steps are mended of what writing code inside a JSON string
    got wrong (`code_examples.mended_code`: the plan's own brackets typed into the end, a
    docstring with one quote for three). Each mended step is a finding to record, not a
    rejection."""
    steps, findings = [], []
    for step in plan.steps:
        code = step.args.get("code") if step.tool == PYTHON else None
        mended = code_examples.mended_code(code) if isinstance(code, str) else None
        if mended is None:
            steps.append(step)
            continue
        steps.append(step.model_copy(update={"args": {**step.args, "code": mended}}))
        findings.append(
            Finding(
                FailureCategory.PLANNING_MALFORMED_OUTPUT,
                MENDED_CODE.format(step=step.id),
                step.id,
                step.tool,
                step.args,
            )
        )
    if not findings:
        return plan, []
    return plan.model_copy(update={"steps": steps}), findings


def with_completed_bodies(plan: Plan, task: str) -> tuple[Plan, list[Finding]]:
    """A code plan whose python steps hold only the body of the task's function (HumanEval's
    prompt ends at the docstring, and the model continues it), run as that function
    completed under the task's code, as HumanEval's harness reads a completion.

    A body split over consecutive steps (the loop in s2, `return False` in s3) is joined
    into its first step, when no other step uses the rest. An answer naming the code of a
    step that only copied the task's `def` and docstring names the completed function
    instead. Each completed step is a finding to record, not a rejection.
    """
    steps = list(plan.steps)
    used = {ref for step in steps for text in strings_in(step.args) for ref in _step_refs(text)}
    kept: list[Step] = []
    findings: list[Finding] = []
    moved: dict[str, str] = {}  # a step joined into another -> that step
    index = 0
    while index < len(steps):
        first = steps[index]
        if not _bare_body(first):
            kept.append(first)
            index += 1
            continue
        run = [first]
        while index + len(run) < len(steps):
            following = steps[index + len(run)]
            if not _bare_body(following) or following.id in used:
                break
            run.append(following)
        joined = "\n".join(_indented(str(step.args["code"])) for step in run)
        completed = code_examples.completed_body(joined, task)
        if completed is None and len(run) > 1:
            run = [first]
            completed = code_examples.completed_body(str(first.args["code"]), task)
        index += len(run)
        if completed is None:
            kept.append(first)
            continue
        kept.append(first.model_copy(update={"args": {**first.args, "code": completed}}))
        moved |= {step.id: first.id for step in run[1:]}
        findings += [
            Finding(
                FailureCategory.PLANNING_WRONG_ARGUMENT_VALUES,
                BODY_ONLY.format(step=step.id, into=first.id),
                step.id,
                step.tool,
                step.args,
            )
            for step in run
        ]
    if not findings:
        return plan, []
    completed_ids = [f.step_id for f in findings]
    headers = {
        step.id
        for step in steps
        if step.tool == PYTHON
        and isinstance(step.args.get("code"), str)
        and code_examples.only_header(step.args["code"], task)
    }

    def renamed(match: re.Match[str]) -> str:
        ref = match[1]
        if match[2] != "code":
            return match[0]
        if ref in moved:
            return f"${{{moved[ref]}.code}}"
        if ref in headers:
            after = [k for k in kept if k.id in completed_ids and _after(steps, k.id, ref)]
            if after:
                return f"${{{after[-1].id}.code}}"
        return match[0]

    answer = TEMPLATE_REFERENCE.sub(renamed, plan.answer)
    return plan.model_copy(update={"steps": kept, "answer": answer}), findings


def _bare_body(step: Step) -> bool:
    """A python step whose code does not run as a program of its own."""
    code = step.args.get("code") if step.tool == PYTHON else None
    return isinstance(code, str) and bool(code.strip()) and not code_examples.runs_alone(code)


def _indented(code: str) -> str:
    """A body step's code at the function's level (a flush one indented by four spaces)."""
    code = code.strip("\n")
    return code if code[:1].isspace() else textwrap.indent(code, "    ")


def _step_refs(text: str) -> list[str]:
    return [m[1] for m in TEMPLATE_REFERENCE.finditer(text)]


def _after(steps: list[Step], later: str, earlier: str) -> bool:
    ids = [step.id for step in steps]
    return earlier in ids and later in ids and ids.index(later) > ids.index(earlier)


def _bare_references(value: Any, earlier: set[str]) -> list[str]:
    """Ids of `earlier` steps named without `${...}` in a value's strings."""
    found = []
    for text in strings_in(value):
        text = TEMPLATE_REFERENCE.sub("", text)
        found += [r for r in earlier if re.search(rf"(?<![\w$]){re.escape(r)}(?![\w(])", text)]
    return found


def _referenced(step: Step) -> list[tuple[str, tuple[str, str]]]:
    """Each step id the step refers to, with the messages for a missing and a later one
    (they say where the reference is: an argument, the fan-out's list, the condition)."""
    labelled: list[tuple[str, tuple[str, str]]] = []
    source = step.source_reference()
    if source is not None:
        labelled.append((source, (MISSING_SOURCE, LATER_SOURCE)))
    for ref, _index in step.needs():
        if ref != source:
            labelled.append((ref, (MISSING_REFERENCE, LATER_REFERENCE)))
    for ref in step.condition_references():
        labelled.append((ref, (MISSING_CONDITION, LATER_CONDITION)))
    unique: dict[str, tuple[str, str]] = {}
    for ref, templates in labelled:
        unique.setdefault(ref, templates)
    return list(unique.items())


def reference_findings(step: Step, earlier: set[str], later: set[str]) -> list[Finding]:
    """`planning.bad_reference`: `${id}` to a missing or later step (in an argument, a
    fan-out's list or a condition), or a bare step id as a value."""
    findings: list[Finding] = []
    for ref, (missing, late) in _referenced(step):
        if ref in earlier:
            continue
        template = late if ref in later or ref == step.id else missing
        findings.append(
            Finding(
                FailureCategory.PLANNING_BAD_REFERENCE,
                template.format(step=step.id, ref=ref),
                step.id,
                step.tool,
                step.args,
            )
        )
    for arg, value in step.args.items():
        for ref, name in _answer_only_references(value):
            detail = ANSWER_ONLY_REFERENCE.format(step=step.id, arg=arg, ref=ref, name=name)
            findings.append(
                Finding(
                    FailureCategory.PLANNING_BAD_REFERENCE, detail, step.id, step.tool, step.args
                )
            )
        for ref in _bare_references(value, earlier):
            findings.append(
                Finding(
                    FailureCategory.PLANNING_BAD_REFERENCE,
                    BARE_REFERENCE.format(step=step.id, arg=arg, ref=ref),
                    step.id,
                    step.tool,
                    step.args,
                )
            )
    return findings


ANSWER_MISSING_STEP = (
    "the answer {template!r} refers to ${{{ref}}}, which is not a step of the plan"
)
ANSWER_MISSING_ARG = (
    "the answer {template!r} refers to ${{{ref}.{arg}}}, but step {ref} has no argument {arg!r}"
)
REPEATS_REJECTED = (
    "step {step} repeats the call {call}, which the reflector judged wrong; change the call"
)


def answer_findings(plan: Plan) -> list[Finding]:
    """`planning.bad_reference` for an answer template naming a step (or a step's argument)
    the plan does not have."""
    findings: list[Finding] = []
    for ref, arg in plan.answer_references():
        step = plan.step(ref)
        if step is None:
            detail = ANSWER_MISSING_STEP.format(template=plan.answer, ref=ref)
        elif arg is not None and arg not in step.args:
            detail = ANSWER_MISSING_ARG.format(template=plan.answer, ref=ref, arg=arg)
        else:
            continue
        findings.append(Finding(FailureCategory.PLANNING_BAD_REFERENCE, detail, ref))
    return findings


def rejected_findings(plan: Plan, rejected: set[str]) -> list[Finding]:
    """`efficiency.repeated_action` for a step whose call (with the arguments as written)
    is one the reflector judged wrong."""
    findings: list[Finding] = []
    for step in plan.steps:
        if step.references():
            continue  # its arguments are only known once its references resolve
        key = call_key(step.tool, step.args)
        if key in rejected:
            detail = REPEATS_REJECTED.format(step=step.id, call=key)
            findings.append(
                Finding(
                    FailureCategory.EFFICIENCY_REPEATED_ACTION,
                    detail,
                    step.id,
                    step.tool,
                    step.args,
                )
            )
    return findings


def _finding(step: Step, category: FailureCategory, detail: str) -> Finding:
    return Finding(category, detail, step.id, step.tool, step.args)


def control_flow_findings(step: Step, ids: list[str]) -> list[Finding]:
    """Problems of a step's `for_each`, `item` and `when`: a list source that is not one
    `${id}` or an item name that is no name or shadows a step (`planning.bad_reference`), a
    condition that does not parse (`planning.invalid_arguments`)."""
    findings: list[Finding] = []
    if isinstance(step.for_each, str) and step.source_reference() is None:
        detail = BAD_SOURCE.format(step=step.id, source=json.dumps(step.for_each)[:80])
        findings.append(_finding(step, FailureCategory.PLANNING_BAD_REFERENCE, detail))
    if step.for_each is not None:
        problem = None
        if not is_step_id(step.item):
            problem = "is not a plain name"
        elif step.item in ids:
            problem = f"shadows step {step.item}"
        if problem is not None:
            detail = BAD_ITEM_NAME.format(step=step.id, name=step.item[:40], problem=problem)
            findings.append(_finding(step, FailureCategory.PLANNING_BAD_REFERENCE, detail))
    if step.when:
        try:
            conditions.parse(step.when)
        except conditions.ConditionError as exc:
            detail = BAD_CONDITION.format(step=step.id, condition=step.when[:120], problem=exc)
            findings.append(_finding(step, FailureCategory.PLANNING_INVALID_ARGUMENTS, detail))
    return findings


def index_findings(step: Step, plan: Plan) -> list[Finding]:
    """`planning.bad_reference` for `${s2[i]}` past the end of a fan-out written as a list."""
    findings: list[Finding] = []
    for ref, index in step.needs():
        target = plan.step(ref)
        n = fan_out.literal_length(target) if target is not None else None
        if index is not None and n is not None and index >= n:
            detail = BAD_INDEX.format(step=step.id, ref=ref, index=index, n=n)
            findings.append(_finding(step, FailureCategory.PLANNING_BAD_REFERENCE, detail))
    return findings


def step_argument_findings(step: Step, tool: BaseTool) -> list[Finding]:
    """The arguments' problems; a fan-out over a written list is checked with each item in
    place of `${item}`, read as the engine reads it (the first item with problems is
    reported)."""
    if not isinstance(step.for_each, list) or not step.for_each:
        return argument_findings(step, tool, step.args)
    schema = argument_schema(tool)
    for index, item in enumerate(step.for_each):
        # As the engine does: the item's text goes in, then an argument that wants another
        # type (a number, a list) reads that text as JSON.
        bound = fan_out.bind_item(step.args, step.item, fan_out.item_text(item))
        problems = argument_findings(step, tool, schema.read_results(bound, step.args))
        if problems:
            shown = json.dumps(item, ensure_ascii=False)[:40]
            return [
                replace(p, detail=ITEM_ARGUMENTS.format(index=index, item=shown, detail=p.detail))
                for p in problems
            ]
    return []


def budget_findings(plan: Plan, budgets: Budgets) -> list[Finding]:
    """`planning.over_budget` when the plan makes more calls than `max_plan_steps`, each
    item of a fan-out written as a list counting as one call."""
    calls = sum(fan_out.literal_length(s) or 1 for s in plan.steps)
    limit = budgets.max_plan_steps
    if len(plan.steps) > limit:
        detail = OVER_BUDGET.format(n=len(plan.steps), limit=limit)
    elif calls > limit:
        detail = FAN_OUT_OVER_BUDGET.format(n=calls, limit=limit)
    else:
        return []
    return [Finding(FailureCategory.PLANNING_OVER_BUDGET, detail)]


def check_plan(
    plan: Plan, tools: ToolRegistry, budgets: Budgets, *, rejected: set[str] | None = None
) -> list[Finding]:
    """Every problem of a plan, in step order, then its answer template's; an empty list
    means it may run. `rejected`: calls judged wrong, which the plan may not repeat."""
    findings = budget_findings(plan, budgets)
    ids = [s.id for s in plan.steps]
    for duplicate in sorted({i for i in ids if ids.count(i) > 1 and is_step_id(i)}):
        findings.append(
            Finding(
                FailureCategory.PLANNING_BAD_REFERENCE,
                DUPLICATE_ID.format(step=duplicate),
                duplicate,
            )
        )
    earlier: set[str] = set()
    for index, step in enumerate(plan.steps):
        bad_id = id_finding(step)
        if bad_id is not None:
            # The step is to be rewritten under a new id; its other problems would
            # only repeat the bad id in every message.
            findings.append(bad_id)
            continue
        later = set(ids[index + 1 :])
        findings.extend(reference_findings(step, earlier, later))
        findings.extend(control_flow_findings(step, ids))
        findings.extend(index_findings(step, plan))
        bad_tool = tool_finding(step, tools)
        if bad_tool is not None:
            findings.append(bad_tool)
        else:
            findings.extend(step_argument_findings(step, tools.get(step.tool)))
        earlier.add(step.id)
    findings.extend(answer_findings(plan))
    findings.extend(rejected_findings(plan, rejected or set()))
    return findings
