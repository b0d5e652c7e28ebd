"""`agentlab run` end to end, as a user runs it: a real subprocess, a real trace file."""

from __future__ import annotations

import json
from pathlib import Path

from support import (
    agentlab,
    failures,
    finish,
    of_type,
    only_trace,
    plan,
    replan,
    step,
    write_cassette,
)

from agentlab.events import InternalError, ToolCall

ROOT = Path(__file__).resolve().parents[1]
DEMO_CASSETTE = ROOT / "examples" / "math" / "demo-cassette.jsonl"


def test_run_answers_from_shipped_cassette(tmp_path: Path) -> None:
    done = agentlab("run", "What is 17*23+4?", "--model", f"replay:{DEMO_CASSETTE}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "answer: 395" in done.stdout
    assert "join the plan's answer stands (no reflection needed)" in done.stdout
    events = only_trace(tmp_path / "agentlab-home" / "runs")
    footer = events[-1]
    assert footer.type == "footer"
    assert footer.status == "answered"
    assert footer.answer == "395"
    calls = of_type(events, ToolCall)
    assert [(c.tool, c.args["expression"], c.output) for c in calls] == [
        ("calculator", "17*23", "391"),
        ("calculator", "391+4", "395"),
    ]


def test_json_output_is_one_object(tmp_path: Path) -> None:
    done = agentlab(
        "run", "What is 17*23+4?", "--model", f"replay:{DEMO_CASSETTE}", "--json", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["answer"] == "395"
    assert result["status"] == "answered"
    assert Path(result["trace"]).is_file()


BAD_TOOL = plan(step("s1", "abacus", expression="17*23+4"))
BAD_ARGS = plan(step("s1", "calculator", expr="17*23+4"))
GOOD = plan(
    step("s1", "calculator", expression="17*23"),
    step("s2", "calculator", expression="${s1}+4"),
    answer="${s2}",
)


def test_validator_rejects_bad_plans_and_planner_sees_findings(tmp_path: Path) -> None:
    cassette = write_cassette(tmp_path / "c.jsonl", BAD_TOOL, BAD_ARGS, GOOD)
    record = tmp_path / "recorded.jsonl"
    done = agentlab(
        "run",
        "What is 17*23+4?",
        "--model",
        f"replay:{cassette}",
        "--record",
        str(record),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    events = only_trace(tmp_path / "agentlab-home" / "runs")
    assert failures(events) == [
        ("planning.invalid_tool", "validator"),
        ("planning.invalid_arguments", "validator"),  # unexpected 'expr'
        ("planning.invalid_arguments", "validator"),  # missing 'expression'
    ]
    assert events[-1].answer == "395"
    # The planner's second and third prompts carry the validator's findings.
    prompts = [json.loads(line) for line in record.read_text().splitlines()]
    # The good plan answers from its template: no reflection.
    assert [p["node"] for p in prompts] == ["planner", "planner", "planner"]
    second = prompts[1]["messages"][1]["content"]
    third = prompts[2]["messages"][1]["content"]
    assert "unknown tool 'abacus'" in second
    assert "has no argument 'expr'" in third
    assert "needs argument 'expression'" in third
    # Bad plans never reached a tool.
    assert len(of_type(events, ToolCall)) == 2


def test_without_validator_executor_records_the_same_categories(tmp_path: Path) -> None:
    cassette = write_cassette(
        tmp_path / "c.jsonl",
        BAD_TOOL,
        replan("use the calculator"),
        BAD_ARGS,
        replan("the argument is called expression"),
        GOOD,
        finish("395"),
    )
    done = agentlab(
        "run", "What is 17*23+4?", "--model", f"replay:{cassette}", "--no-validator", cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    events = only_trace(tmp_path / "agentlab-home" / "runs")
    assert failures(events) == [
        ("planning.invalid_tool", "executor"),
        ("planning.invalid_arguments", "executor"),
        ("planning.invalid_arguments", "executor"),
    ]
    assert events[-1].status == "answered"
    assert events[-1].answer == "395"
    assert not of_type(events, InternalError)
    # The flag is the variant of that name: the trace says which variant ran.
    assert events[0].type == "header" and events[0].variant == "no-validator"


def test_budget_exhaustion_ends_with_status_and_exit_1(tmp_path: Path) -> None:
    # Every plan is rejected; with two replans allowed the third rejection ends the run.
    cassette = write_cassette(tmp_path / "c.jsonl", BAD_TOOL, BAD_TOOL, BAD_TOOL, BAD_TOOL)
    config = tmp_path / "no-replans.json"
    done = agentlab(
        "run", "What is 17*23+4?", "--model", f"replay:{cassette}", "--json", cwd=tmp_path
    )
    assert done.returncode == 1
    result = json.loads(done.stdout)
    assert result["status"] == "budget_exhausted"
    assert "replans" in result["status_detail"]
    categories = [f["category"] for f in result["failures"]]
    assert categories.count("planning.invalid_tool") == 4
    assert categories[-1] == "efficiency.budget_exhausted"
    assert "Traceback" not in done.stdout + done.stderr
    assert not config.exists()


def test_garbage_model_ends_with_malformed_output_and_exit_1(tmp_path: Path) -> None:
    cassette = write_cassette(
        tmp_path / "c.jsonl", "I think the answer is 395!", "{not json", "```\nsteps: none\n```"
    )
    done = agentlab("run", "What is 17*23+4?", "--model", f"replay:{cassette}", cwd=tmp_path)
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    assert "never parsed as a plan" in done.stdout
    events = only_trace(tmp_path / "agentlab-home" / "runs")
    assert failures(events) == [("planning.malformed_output", "planner")] * 3
    assert events[-1].status == "no_answer"


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    missing = agentlab("run", "x", "--model", "replay:/nowhere.jsonl", cwd=tmp_path)
    assert missing.returncode == 2
    assert "does not exist" in missing.stderr
    bad_tool = agentlab(
        "run", "x", "--model", f"replay:{DEMO_CASSETTE}", "--tools", "abacus", cwd=tmp_path
    )
    assert bad_tool.returncode == 2
    assert "unknown tool(s) abacus" in bad_tool.stderr
    bad_variant = agentlab(
        "run", "x", "--model", f"replay:{DEMO_CASSETTE}", "--variant", "turbo", cwd=tmp_path
    )
    assert bad_variant.returncode == 2
    assert "unknown variant" in bad_variant.stderr


def test_tools_lists_schemas(tmp_path: Path) -> None:
    done = agentlab("tools", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    schemas = json.loads(done.stdout)
    assert schemas["calculator"]["required"] == ["expression"]
