"""Plans with control flow (issue 16): fan-out over a list (`for_each`) and conditional
steps (`when`), run by the step engine on replayed cassettes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from langchain_core.tools import ToolException, tool
from langgraph.checkpoint.memory import InMemorySaver
from support import agentlab, finish, of_type, plan, step, write_cassette

from agentlab import AgentConfig, build_agent
from agentlab.events import Joined, NodeStep, ToolCall
from agentlab.failures import FailureCategory, FailureEvent
from agentlab.llm import ReplayChatModel
from agentlab.schemas import Plan
from agentlab.trace import MemoryTraceSink, Tracer

POPULATIONS = {
    "Oslo": 709_000,
    "Bergen": 291_000,
    "Trondheim": 212_000,
    "Stavanger": 146_000,
    "Tromso": 77_000,
}
PRICES = {"Tern": "1290", "Skiff": "", "Kit": "[1, 2, 3]"}


@tool
def population(city: str) -> str:
    """The population of a city."""
    if city not in POPULATIONS:
        raise ToolException(f"no city named {city!r}")
    return str(POPULATIONS[city])


@tool
def price(product: str) -> str:
    """The catalogue price of a product ('' when the catalogue has none)."""
    return PRICES.get(product, "")


@tool
def cities(country: str) -> list[str]:
    """The largest cities of a country."""
    return ["Oslo", "Bergen", "Trondheim"] if country == "Norway" else []


def fan(id: str, tool: str, over: Any, **args: Any) -> dict[str, Any]:
    return {**step(id, tool, **args), "for_each": over}


def when(condition: str, of: dict[str, Any]) -> dict[str, Any]:
    return {**of, "when": condition}


def run(
    tmp_path: Path, *replies: str, task: str = "the task", **config: Any
) -> tuple[dict[str, Any], MemoryTraceSink, ReplayChatModel]:
    model = ReplayChatModel(path=str(write_cassette(tmp_path / "c.jsonl", *replies)))
    sink = MemoryTraceSink()
    graph = build_agent(
        AgentConfig(memory=False, **config),
        model=model,
        tools=[population, price, cities, "calculator"],
        trace=Tracer(sink),
    )
    state = graph.invoke({"task": task})
    model.assert_complete()
    return state, sink, model


def calls(sink: MemoryTraceSink, step_id: str) -> list[ToolCall]:
    return [c for c in of_type(sink.events, ToolCall) if c.step_id == step_id]


def test_a_five_city_fan_out_with_one_failing_item(tmp_path: Path) -> None:
    five = ["Oslo", "Bergen", "Atlantis", "Stavanger", "Tromso"]
    reply = plan(
        fan("s1", "population", five, city="${item}"),
        step("s2", "calculator", expression="sum(${s1})"),
        step("s3", "calculator", expression="${s1[0]} + ${s1[4]}"),
        answer="${s2}",
    )
    state, sink, model = run(tmp_path, reply, finish("unknown"))
    results = state["results"]
    # Every item was called, in the same wave, each traced with its index.
    traced = sorted(calls(sink, "s1"), key=lambda c: c.item or 0)
    assert [(c.item, c.args, c.status) for c in traced] == [
        (i, {"city": city}, "error" if city == "Atlantis" else "ok") for i, city in enumerate(five)
    ]
    assert state["counters"].tool_calls == 5 + 1
    # The failure is recorded with its index; the step's status counts the failed items.
    [failure] = [f for f in state["failures"] if f.step_id == "s1"]
    assert (failure.category, failure.item) == (FailureCategory.EXECUTION_TOOL_ERROR, 2)
    assert "Atlantis" in failure.detail
    assert results["s1"].status == "error"
    assert results["s1"].output.startswith("1 of 5 items failed: item 2 (Atlantis)")
    assert [r.status for r in results["s1"].items or []] == ["ok", "ok", "error", "ok", "ok"]
    # The sum needs every item: skipped with the cause; one item is still usable.
    assert results["s2"].status == "skipped" and not results["s2"].not_taken
    assert "s1 (all its items; 1 of 5 failed)" in results["s2"].output
    assert (results["s3"].status, results["s3"].output) == ("ok", "786000")
    assert [(e.decision, e.reason) for e in of_type(sink.events, Joined)] == [
        ("reflect", "failed_steps")
    ]
    # The reflector was shown the failed item and the skipped sum.
    reflected = str(model.calls[1][-1].content)
    assert "item 2 (Atlantis)" in reflected and "SKIPPED" in reflected


def test_a_fan_out_result_is_a_list_the_calculator_sums(tmp_path: Path) -> None:
    reply = plan(
        fan("s1", "population", ["Oslo", "Bergen"], city="${item}"),
        step("s2", "calculator", expression="sum(${s1})"),
        answer="${s2}",
    )
    state, sink, _ = run(tmp_path, reply)
    assert state["results"]["s1"].output == "[709000, 291000]"
    assert (state["status"], state["answer"]) == ("answered", "1000000")
    assert state["counters"].llm_calls == 1
    # Both items ran in one wave (one executor step), the sum in the next.
    assert {c.item for c in calls(sink, "s1")} == {0, 1}
    waves = [e.steps for e in of_type(sink.events, NodeStep) if e.node == "executor"]
    assert waves == [["s1"], ["s2"]]


def test_a_fan_out_over_a_list_an_earlier_step_produced(tmp_path: Path) -> None:
    reply = plan(
        step("s1", "cities", country="Norway"),
        {**fan("s2", "population", "${s1}", city="${town}"), "item": "town"},
        step("s3", "calculator", expression="max(${s2})"),
        answer="${s3}",
    )
    state, sink, _ = run(tmp_path, reply)
    traced = sorted(calls(sink, "s2"), key=lambda c: c.item or 0)
    assert [(c.item, c.args["city"]) for c in traced] == [
        (0, "Oslo"),
        (1, "Bergen"),
        (2, "Trondheim"),
    ]
    assert state["results"]["s2"].data == ["709000", "291000", "212000"]
    assert (state["status"], state["answer"]) == ("answered", "709000")


def test_a_fan_out_over_a_json_list_in_a_results_text(tmp_path: Path) -> None:
    reply = plan(
        step("s1", "price", product="Kit"),
        fan("s2", "calculator", "${s1}", expression="${item} * 2"),
        answer="${s2[2]}",
    )
    state, _, _ = run(tmp_path, reply)
    assert state["results"]["s2"].output == "[2, 4, 6]"
    assert state["answer"] == "6"


def test_a_conditional_fallback_runs_only_when_the_lookup_is_empty(tmp_path: Path) -> None:
    def fallback(product: str) -> str:
        return plan(
            step("s1", "price", product=product),
            when("empty(${s1})", step("s2", "calculator", expression="1290 * 0.9")),
            when("not empty(${s1})", step("s3", "calculator", expression="${s1} * 1")),
            answer="",
        )

    # The catalogue has no Skiff price: the estimate runs, its else-branch does not.
    state, sink, _ = run(tmp_path, fallback("Skiff"), finish("1161"), task="Skiff price?")
    results = state["results"]
    assert (results["s2"].status, results["s2"].output) == ("ok", "1161")
    assert results["s3"].status == "skipped" and results["s3"].not_taken
    assert "condition 'not empty(${s1})' is false" in results["s3"].output
    [skipped] = calls(sink, "s3")
    assert skipped.status == "skipped"
    # A branch not taken is no failure: the joiner reads results, not failed steps.
    assert state["failures"] == []
    assert [(e.decision, e.reason) for e in of_type(sink.events, Joined)] == [
        ("reflect", "no_template")
    ]

    # The Tern has a price: the fallback is not taken, no call is made for it.
    state, sink, _ = run(tmp_path, fallback("Tern"), finish("1290"), task="Tern price?")
    results = state["results"]
    assert results["s2"].status == "skipped" and results["s2"].not_taken
    assert (results["s3"].status, results["s3"].output) == ("ok", "1290")
    assert [c.status for c in calls(sink, "s2")] == ["skipped"]
    assert state["failures"] == [] and state["answer"] == "1290"


def test_a_template_over_a_branch_not_taken_goes_to_the_reflector(tmp_path: Path) -> None:
    reply = plan(
        step("s1", "price", product="Tern"),
        when("empty(${s1})", step("s2", "calculator", expression="1000")),
        step("s3", "calculator", expression="${s2} + 1"),
        answer="${s3}",
    )
    state, sink, _ = run(tmp_path, reply, finish("1290"))
    results = state["results"]
    # s3 needs only the branch not taken: it is not taken either, with that cause.
    assert results["s3"].not_taken
    assert results["s3"].output == "not run: it needs s2, whose condition was false"
    assert [(e.decision, e.reason) for e in of_type(sink.events, Joined)] == [
        ("reflect", "unresolved_answer")
    ]
    assert state["failures"] == []


def test_a_condition_may_ask_whether_a_step_failed(tmp_path: Path) -> None:
    reply = plan(
        step("s1", "population", city="Atlantis"),
        when("failed(${s1})", step("s2", "population", city="Oslo")),
        answer="${s2}",
    )
    state, _, _ = run(tmp_path, reply, finish("709000"))
    assert state["results"]["s1"].status == "error"
    assert (state["results"]["s2"].status, state["results"]["s2"].output) == ("ok", "709000")


def test_a_condition_comparing_text_with_a_number_is_refused_at_run_time(
    tmp_path: Path,
) -> None:
    reply = plan(
        step("s1", "price", product="Skiff"),
        when("${s1} > 5", step("s2", "calculator", expression="1")),
        answer="${s2}",
    )
    state, _, _ = run(tmp_path, reply, finish("none"))
    [failure] = state["failures"]
    assert failure.category == FailureCategory.PLANNING_INVALID_ARGUMENTS
    assert "cannot compare '' with" in failure.detail and failure.step_id == "s2"


def test_a_fan_out_over_a_run_time_list_longer_than_the_budget(tmp_path: Path) -> None:
    reply = plan(
        step("s1", "cities", country="Norway"),
        fan("s2", "population", "${s1}", city="${item}"),
        answer="${s2}",
    )
    _, sink, _ = run(
        tmp_path, reply, finish("none"), budgets={"max_plan_steps": 2, "max_replans": 0}
    )
    [failure] = of_type(sink.events, FailureEvent)
    assert failure.category == FailureCategory.EFFICIENCY_BUDGET_EXHAUSTED
    assert "for_each has 3 items, over the 2 calls" in failure.detail
    assert calls(sink, "s2") == []


def test_every_item_counts_against_the_runs_tool_call_budget(tmp_path: Path) -> None:
    reply = plan(fan("s1", "population", list(POPULATIONS), city="${item}"), answer="${s1}")
    state, sink, _ = run(tmp_path, reply, budgets={"max_steps": 4})
    # Five calls do not fit in four: the run stops before making any of them.
    assert state["status"] == "budget_exhausted"
    assert [f.category for f in state["failures"]] == [FailureCategory.EFFICIENCY_BUDGET_EXHAUSTED]
    assert of_type(sink.events, ToolCall) == []


def test_the_validator_rejects_malformed_control_flow_before_anything_runs(
    tmp_path: Path,
) -> None:
    bad = plan(
        fan("s1", "population", "${s9}", city="${item}"),
        when("empty(${s1}", step("s2", "calculator", expression="1")),
        answer="${s2}",
    )
    good = plan(step("s1", "calculator", expression="2+2"), answer="${s1}")
    state, sink, model = run(tmp_path, bad, good)
    assert state["answer"] == "4"
    got = [(f.category, f.node) for f in state["failures"]]
    assert got == [
        (FailureCategory.PLANNING_BAD_REFERENCE, "validator"),
        (FailureCategory.PLANNING_INVALID_ARGUMENTS, "validator"),
    ]
    # Nothing of the bad plan ran; the planner was told what to fix.
    assert [c.step_id for c in of_type(sink.events, ToolCall)] == ["s1"]
    assert "for_each ${s9} names no step" in str(model.calls[1][-1].content)


def test_candidate_plans_keep_their_control_flow_references(tmp_path: Path) -> None:
    reply = plan(
        fan("s1", "population", ["Oslo", "Bergen"], city="${item}"),
        when("${s1[0]} > 1", step("s2", "calculator", expression="sum(${s1})")),
        answer="${s2}",
    )
    state, sink, _ = run(tmp_path, reply, reply, plans=2)
    assert state["answer"] == "1000000"
    # Both candidates fanned out and summed under their prefixed ids (the second shares
    # the first's identical calls).
    traced = {(c.step_id, c.item) for c in of_type(sink.events, ToolCall)}
    assert traced == {
        (f"c{n}_{s}", i) for n in (1, 2) for s, i in [("s1", 0), ("s1", 1), ("s2", None)]
    }


def test_a_fan_out_and_a_branch_not_taken_survive_the_checkpointer(tmp_path: Path) -> None:
    reply = plan(
        fan("s1", "population", ["Oslo", "Atlantis"], city="${item}"),
        when("failed(${s1}) and not failed(${s1})", step("s2", "calculator", expression="1")),
        answer="${s1[0]}",
    )
    model = ReplayChatModel(path=str(write_cassette(tmp_path / "c.jsonl", reply, finish("x"))))
    graph = build_agent(
        AgentConfig(memory=False),
        model=model,
        tools=[population, "calculator"],
        trace=Tracer(MemoryTraceSink()),
        checkpointer=InMemorySaver(),
    )
    config = {"configurable": {"thread_id": "t1"}}
    graph.invoke({"task": "the task"}, config)
    # The saved state (serialized by the checkpointer) reads back typed and whole.
    results = graph.get_state(config).values["results"]
    assert [(r.status, r.output) for r in results["s1"].items] == [
        ("ok", "709000"),
        ("error", "population failed: no city named 'Atlantis'"),
    ]
    assert results["s2"].not_taken and results["s2"].status == "skipped"


def test_recorded_plans_without_control_flow_still_parse() -> None:
    old = Plan.model_validate(json.loads(plan(step("s1", "calculator", expression="1"))))
    assert (old.steps[0].for_each, old.steps[0].when, old.steps[0].item) == (None, "", "item")


def test_the_cli_shows_the_fan_out_its_items_and_the_branch_not_taken(tmp_path: Path) -> None:
    reply = plan(
        fan("s1", "calculator", [12, 15, 9], expression="${item}*24"),
        step("s2", "calculator", expression="sum(${s1})"),
        when("${s2} < 10", step("s3", "calculator", expression="1")),
        answer="${s2}",
    )
    cassette = write_cassette(tmp_path / "c.jsonl", reply)
    done = agentlab(
        "run",
        "How many pens?",
        "--tools",
        "calculator",
        "--model",
        f"replay:{cassette}",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    shown = " ".join(done.stdout.split())
    assert "for each ${item} in [12, 15, 9]" in shown and "when ${s2} < 10" in shown
    assert 's1[2] ok calculator({"expression": "9*24"}) -> 216' in shown
    assert "s3 skipped calculator" in shown and "condition '${s2} < 10' is false" in shown
    assert "answer: 864" in shown
