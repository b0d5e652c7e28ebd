"""Public contracts: exported errors, schema field names, the failure taxonomy."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import agentlab
import agentlab.errors
from agentlab import FailureCategory, Plan, Reflection

ROOT = Path(__file__).resolve().parents[1]

TAXONOMY = {
    "planning.invalid_tool",
    "planning.invalid_arguments",
    "planning.wrong_argument_values",
    "planning.bad_reference",
    "planning.malformed_output",
    "planning.over_budget",
    "execution.tool_error",
    "execution.timeout",
    "execution.resource_limit",
    "reflection.premature_finish",
    "reflection.missed_finish",
    "goal.wrong_answer",
    "goal.no_answer",
    "efficiency.budget_exhausted",
    "efficiency.repeated_action",
    "model.api_error",
    "model.context_overflow",
    "model.replay_exhausted",
    "model.output_truncated",
    "guardrail.action_rejected",
    "guardrail.prompt_injection",
    "guardrail.input_masked",
    "guardrail.output_invalid",
}


def test_taxonomy_matches_design() -> None:
    assert {c.value for c in FailureCategory} == TAXONOMY
    design = (ROOT / "docs" / "design.md").read_text()
    for name in TAXONOMY:
        assert f"| {name} |" in design


def test_every_public_error_is_exported() -> None:
    errors = {
        name
        for name, obj in inspect.getmembers(agentlab.errors, inspect.isclass)
        if issubclass(obj, agentlab.errors.AgentlabError)
    }
    assert errors <= set(agentlab.__all__)
    assert errors == set(agentlab.errors.__all__)


def test_plan_and_reflection_field_names_are_the_design_contract() -> None:
    plan = Plan.model_validate_json(
        '{"steps": [{"id": "s1", "tool": "calculator", "args": {"expression": "17*23"}, "why": "x"}],'
        ' "answer": "${s1}"}'
    )
    assert json.loads(plan.model_dump_json()) == {
        "approach": "",
        "steps": [{"id": "s1", "tool": "calculator", "args": {"expression": "17*23"}, "why": "x"}],
        "answer": "${s1}",
    }
    # A plan written before answer templates and approaches existed still parses.
    older = Plan.model_validate_json('{"steps": []}')
    assert older.answer == "" and older.approach == ""
    assert set(Reflection.model_fields) == {"decision", "answer", "wrong", "critique"}


def _source() -> str:
    parts = [
        p.read_text() for d in ("agentlab", "tools", "sandbox") for p in (ROOT / d).rglob("*.py")
    ]
    return "\n".join(p for p in parts if "class FailureCategory(StrEnum)" not in p)


def test_every_runtime_category_is_set_where_it_is_detected() -> None:
    """Each category is named at its detection site: the runtime's, and eval's for those
    that need ground truth (premature/missed finish, wrong answer: agentlab/eval/verdict.py)."""
    source = _source()
    missing = [
        c.name
        for c in FailureCategory
        if f"FailureCategory.{c.name}" not in source
        and f"category = FailureCategory.{c.name}" not in source
    ]
    assert missing == []
