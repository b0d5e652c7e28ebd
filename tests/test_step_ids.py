"""Step ids are short identifiers: the model's schema says so, the validator and the executor
refuse any other id, and no id ever names a file outside the run's folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.tools import tool
from support import agentlab, failures, finish, of_type, only_trace, plan, step, write_cassette

from agentlab import AgentConfig, Budgets, build_agent
from agentlab.events import ToolCall
from agentlab.failures import FailureCategory
from agentlab.llm import ReplayChatModel
from agentlab.llm.caller import json_schema_response_format
from agentlab.llm.parsing import parse_structured
from agentlab.plan_checks import check_plan
from agentlab.plan_schema import plan_model
from agentlab.schemas import STEP_ID_PATTERN, Plan, Step, is_step_id
from agentlab.tools.base import Artifact, ToolOutput
from agentlab.tools.registry import ToolRegistry
from agentlab.trace import JsonlTraceSink, Tracer, read_trace

ESCAPE = "../../../escaped"
"""From `<tmp>/home/runs/<run id>/`, artifacts named after this id land in `<tmp>/`."""

BAD_IDS = [
    ESCAPE,
    "/tmp/x",
    "..",
    "s 1",
    "1st",
    "s1\n",
    "s\x001",
    "\uff53\uff11",
    "s" * 33,
    "[/bold]",
]

calls: list[str] = []


class Report(ToolOutput):
    def as_text(self) -> str:
        return "report written"


@tool
def report(text: str) -> Report:
    """Write a short report file."""
    calls.append(text)
    return Report(artifacts=[Artifact(name="report.txt", data=text.encode(), media_type="")])


def files_outside(tmp_path: Path, runs: Path) -> list[Path]:
    return [p for p in tmp_path.rglob("*") if p.is_file() and runs not in p.parents]


@pytest.mark.parametrize("step_id", ["s1", "S_2", "_x", "step-3", "a" * 32])
def test_plain_ids_are_step_ids(step_id: str) -> None:
    assert is_step_id(step_id)


REGISTRY = ToolRegistry([report])


@pytest.mark.parametrize("step_id", BAD_IDS)
def test_other_ids_are_not(step_id: str) -> None:
    assert not is_step_id(step_id)


def test_the_schema_the_model_gets_carries_the_id_pattern() -> None:
    model = plan_model(list(REGISTRY), max_steps=8)
    schema = json_schema_response_format(model)["json_schema"]["schema"]
    for variant in schema["properties"]["steps"]["items"]["anyOf"]:
        assert variant["properties"]["id"]["pattern"] == STEP_ID_PATTERN
    assert Plan.model_json_schema()["$defs"]["Step"]["properties"]["id"]["pattern"]


def test_the_embedded_backend_turns_the_pattern_into_grammar() -> None:
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    model = plan_model(list(REGISTRY), max_steps=8)
    schema = json_schema_response_format(model)["json_schema"]["schema"]
    grammar = json_schema_to_gbnf(json.dumps(schema))
    rule = next(line for line in grammar.splitlines() if line.startswith("steps-item-0-id ::="))
    assert "[A-Za-z_]" in rule  # the first character class, then up to 31 more
    assert rule.count("steps-item-0-id-1") == 31


def test_a_bad_id_parses_so_the_validator_can_name_it() -> None:
    reply = plan(step(ESCAPE, "report", text="x"))
    parsed = parse_structured(reply, plan_model(list(REGISTRY), max_steps=8))
    assert parsed.steps[0].id == ESCAPE


def test_validator_reports_each_bad_id_as_a_bad_reference() -> None:
    steps = [Step(id=i, tool="report", args={"text": "x"}) for i in BAD_IDS]
    steps.append(Step(id="s1", tool="report", args={"text": "fine"}))
    findings = check_plan(Plan(steps=steps), ToolRegistry([report]), Budgets(max_plan_steps=20))
    bad = [f for f in findings if "not a plain id" in f.detail]
    assert len(bad) == len(findings) == len(BAD_IDS)  # the good step has no finding
    assert {f.category for f in bad} == {FailureCategory.PLANNING_BAD_REFERENCE}
    assert all(f.step_id is None and len(f.detail) < 200 for f in bad)
    assert repr(ESCAPE) in bad[0].detail


def run(tmp_path: Path, *replies: str, **config: Any) -> tuple[dict[str, Any], list[Any]]:
    runs = tmp_path / "home" / "runs"
    model = ReplayChatModel(path=str(write_cassette(tmp_path / "c.jsonl", *replies)))
    graph = build_agent(
        AgentConfig(memory=False, **config),
        model=model,
        tools=[report],
        trace=Tracer(JsonlTraceSink(runs)),
    )
    final = graph.invoke({"task": "Write a report"})
    [trace] = runs.glob("*.jsonl")
    return final, read_trace(trace)


def test_validator_sends_a_bad_id_back_and_no_file_leaves_the_run(tmp_path: Path) -> None:
    calls.clear()
    final, events = run(
        tmp_path,
        plan(step(ESCAPE, "report", text="bad")),
        plan(step("s1", "report", text="good")),
        finish("done"),
    )
    assert final["status"] == "answered"
    assert failures(events) == [("planning.bad_reference", "validator")]
    assert calls == ["good"]
    runs = tmp_path / "home" / "runs"
    assert files_outside(tmp_path, runs) == [tmp_path / "c.jsonl"]
    [artifact] = of_type(events, ToolCall)[0].artifacts
    assert Path(artifact).name == "s1-report.txt" and runs.resolve() in Path(artifact).parents


def test_executor_refuses_a_bad_id_when_the_validator_is_off(tmp_path: Path) -> None:
    calls.clear()
    final, events = run(
        tmp_path, plan(step(ESCAPE, "report", text="bad")), finish("none"), validator=False
    )
    assert final["status"] == "answered"
    assert failures(events) == [("planning.bad_reference", "executor")]
    assert calls == []  # the step never ran
    assert files_outside(tmp_path, tmp_path / "home" / "runs") == [tmp_path / "c.jsonl"]


PYTHON_WRITES = "open('payload.sh', 'w').write('echo owned')"


@pytest.mark.docker
@pytest.mark.parametrize("switch", [[], ["--no-validator"]])
def test_sandboxed_code_cannot_write_outside_the_run_folder(
    tmp_path: Path, switch: list[str]
) -> None:
    """The attack as it was shown: a python step whose id walks out of the runs folder."""
    cassette = write_cassette(
        tmp_path / "c.jsonl",
        plan(step(ESCAPE, "python", code=PYTHON_WRITES)),
        *([plan(step("s1", "python", code=PYTHON_WRITES))] if not switch else []),
        finish("done"),
    )
    done = agentlab(
        "run",
        "Write a script",
        "--model",
        f"replay:{cassette}",
        "--tools",
        "python",
        *switch,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    home = tmp_path / "agentlab-home"
    runs = home / "runs"
    assert not list(tmp_path.rglob("escaped*"))
    assert [p.name for p in files_outside(tmp_path, home)] == ["c.jsonl"]
    events = only_trace(runs)
    node = "executor" if switch else "validator"
    assert ("planning.bad_reference", node) in failures(events)
    if not switch:
        [written] = [a for c in of_type(events, ToolCall) for a in c.artifacts]
        assert Path(written).name == "s1-payload.sh" and runs.resolve() in Path(written).parents
