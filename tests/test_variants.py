"""Variants are parsed in one place (`agentlab.config.parse_variant`): CLI flags, eval -v,
`AgentConfig.with_variant` and the report all read a name the same way."""

from __future__ import annotations

import pytest

from agentlab.config import VARIANTS, AgentConfig, Switch, WithoutTool, parse_variant
from agentlab.errors import ConfigError
from agentlab.eval.harness import check_variants, pair_config
from agentlab.eval.report.build import Comparison
from agentlab.eval.report.stats import PairedTable, wilson
from agentlab.eval.suite import Task


def test_names_parse_to_typed_variants() -> None:
    assert parse_variant("full") == Switch("full")
    assert parse_variant("no-validator") == Switch("no-validator")
    assert parse_variant("no-calculator") == WithoutTool("calculator")
    assert parse_variant("no-calculator").name == "no-calculator"
    for bad in ("turbo", "no-", "", "no-a+no-b", "no- python"):
        with pytest.raises(ConfigError, match="unknown variant"):
            parse_variant(bad)


def test_a_switch_sets_exactly_its_fields() -> None:
    base = AgentConfig()
    for name, fields in VARIANTS.items():
        config = base.with_variant(name)
        assert config.variant == name
        assert {k: getattr(config, k) for k in fields} == fields


def test_no_tool_checks_the_inventory_it_is_given() -> None:
    config = AgentConfig(tools=("calculator", "python")).with_variant("no-python")
    assert config.without_tools == ("python",)
    with pytest.raises(ConfigError, match="not in the inventory"):
        AgentConfig(tools=("calculator",)).with_variant("no-search")


def test_several_variants_are_labelled_together() -> None:
    config = AgentConfig().with_variants(["no-validator", "no-memory", "no-validator"])
    assert (config.validator, config.memory, config.variant) == (
        False,
        False,
        "no-validator+no-memory",
    )
    assert AgentConfig().with_variants([]).variant == "full"
    react = AgentConfig(architecture="react").with_variants(["no-memory"])
    assert react.variant == "react+no-memory"


def test_a_new_table_entry_is_known_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    # Others add entries to VARIANTS (plain data); every reader must see them at once.
    monkeypatch.setitem(VARIANTS, "critique-strict", {"llm_critique": True, "validator": True})
    task = Task(id="t", prompt="p", tools=("calculator",), answer="1")  # type: ignore[call-arg]
    check_variants(("full", "critique-strict"), [task])
    config = pair_config(AgentConfig(), task, "critique-strict")
    assert config.llm_critique and config.variant == "critique-strict"
    assert AgentConfig().with_variant("critique-strict").llm_critique
    table = PairedTable(a=0, b=0, c=0, d=1)
    comparison = Comparison("critique-strict", "full", table, wilson(0, 1))
    assert comparison.removed_tool is None
    assert Comparison("no-calculator", "full", table, wilson(0, 1)).removed_tool == "calculator"
    assert Comparison("no-x+no-y", "full", table, wilson(0, 1)).removed_tool is None
