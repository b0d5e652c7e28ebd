"""The shipped `control-flow` suite: tasks over the local corpus and the calculator that
need a fan-out or a condition; it loads, grades, and replays under both plan schemas."""

from __future__ import annotations

from pathlib import Path

from support import of_type, plan, replan, step, write_cassette

from agentlab.eval import EvalSettings, Evaluation, cassette_path, load_suite
from agentlab.eval.checks import grade_text
from agentlab.eval.report import build_report
from agentlab.eval.suite import NumericCheck, RegexCheck, Suite
from agentlab.events import ToolCall
from agentlab.trace import read_trace

ANSWERS = {
    "one-of-each": "3050 EUR",
    "harbor-yearly": "576 EUR, 1,440 EUR and 3,600 EUR",
    "calibration-orders": "3,080 EUR",
    "on-call-pay": "600, 900 and 1500 EUR",
    "shortest-warranty": "Skiff data loggers, 2 years",
    "per-diem-days": "220 EUR and 210 USD",
    "volume-discount": "16530",
    "no-volume-discount": "7840",
    "academic-order": "49,980 EUR",
    "free-shipping": "2220",
    "courier-fee": "845 EUR",
}
"""A right answer for each task, from the corpus's price list and policies."""


def test_the_suite_loads_with_tasks_that_need_control_flow() -> None:
    suite = load_suite("control-flow")
    assert len(suite.tasks) >= 8
    assert {t.id for t in suite.tasks} == set(ANSWERS)
    for task in suite.tasks:
        assert task.tools == ("search", "calculator")
        assert {"fan-out", "condition"} & set(task.tags), task.id
        assert task.config == {"search_backend": "local"}
    kinds = [t for t in suite.tasks if "condition" in t.tags]
    assert 4 <= len(kinds) <= len(suite.tasks) - 4  # both structures are exercised


def test_every_task_grades_its_right_answer_and_refuses_a_near_miss() -> None:
    for task in load_suite("control-flow").tasks:
        assert isinstance(task.check, NumericCheck | RegexCheck)
        assert grade_text(task.check, ANSWERS[task.id]).passed, task.id
        near_miss = "Tern stations, 3 years" if task.id == "shortest-warranty" else "1,000 EUR"
        assert not grade_text(task.check, near_miss).passed, task.id


def scripts(variant: str) -> dict[str, list[str]]:
    """Hand-written model replies: a search round, the reflector asking for the arithmetic,
    then the plan that computes the answer (with control flow, or written out)."""
    calibration_search = plan(
        step("s1", "search", query="calibration service price per station"), answer=""
    )
    courier_search = plan(
        step("s1", "search", query="Gull G3 gateway Tern cellular module price"),
        step("s2", "search", query="free shipping threshold"),
        answer="",
    )
    ask = replan("compute the total from the price found")
    if variant == "control-flow":
        calibration = plan(
            {**step("s1", "calculator", expression="${item}*140"), "for_each": [3, 7, 12]},
            step("s2", "calculator", expression="sum(${s1})"),
            answer="${s2}",
        )
        courier = plan(
            step("s1", "calculator", expression="620+190"),
            {**step("s2", "calculator", expression="${s1}+35"), "when": "${s1} <= 2000"},
            {**step("s3", "calculator", expression="${s1}"), "when": "${s1} > 2000"},
            answer="${s2}",
        )
    else:
        calibration = plan(
            step("s1", "calculator", expression="3*140"),
            step("s2", "calculator", expression="7*140"),
            step("s3", "calculator", expression="12*140"),
            step("s4", "calculator", expression="${s1}+${s2}+${s3}"),
            answer="${s4}",
        )
        courier = plan(
            step("s1", "calculator", expression="620+190"),
            step("s2", "calculator", expression="${s1}+35"),
            answer="${s2}",
        )
    return {
        "calibration-orders": [calibration_search, ask, calibration],
        "courier-fee": [courier_search, ask, courier],
    }


def test_the_suite_replays_with_and_without_control_flow(tmp_path: Path) -> None:
    shipped = load_suite("control-flow")
    chosen = tuple(t for t in shipped.tasks if t.id in ("calibration-orders", "courier-fee"))
    suite = Suite(name="control-flow", tasks=chosen)
    variants = ("control-flow", "full")
    for variant in variants:
        for task_id, replies in scripts(variant).items():
            path = cassette_path(tmp_path / "cassettes", variant, task_id)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_cassette(path, *replies)
    settings = EvalSettings(
        variants=variants, out_dir=tmp_path / "runs", model=f"replay:{tmp_path / 'cassettes'}"
    )
    results = Evaluation(suite, settings).run()
    assert sorted((r.task_id, r.variant, r.outcome) for r in results) == [
        ("calibration-orders", "control-flow", "pass"),
        ("calibration-orders", "full", "pass"),
        ("courier-fee", "control-flow", "pass"),
        ("courier-fee", "full", "pass"),
    ]
    fanned = [
        call
        for r in results
        if (r.task_id, r.variant) == ("calibration-orders", "control-flow")
        for call in of_type(read_trace(Path(r.trace)), ToolCall)
        if call.item is not None
    ]
    assert sorted((c.item, c.args["expression"]) for c in fanned) == [
        (0, "3*140"),
        (1, "7*140"),
        (2, "12*140"),
    ]
    # `agentlab failures` counts the fan-out's item calls and the branch not taken, which
    # is no call.
    report = build_report([tmp_path / "runs"])
    tools = {t.tool: (t.calls, t.errors, t.items, t.not_taken) for t in report.tools}
    assert tools == {"calculator": (4 + 2 + 4 + 2, 0, 3, 1), "search": (6, 0, 0, 0)}
