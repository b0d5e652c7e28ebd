"""agentlab, `react` and `direct` end to end as a user runs them: `agentlab eval` on replayed
cassettes, then `agentlab failures` over the traces; and `agentlab run --agent react|direct`."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from support import finish, of_type, only_trace, plan, step, write_cassette

from agentlab.eval import cassette_path, load_suite
from agentlab.events import ToolCall
from agentlab.trace import read_ends

VARIANTS = ("full", "react", "direct")
SEARCHES = {
    "leave-and-warranty": ("paid parental leave weeks", "Skiff data logger warranty"),
}
ROOT = Path(__file__).resolve().parents[1]
ANSWERS = {"leave-and-warranty": "20 weeks of parental leave; a two-year warranty"}


def act(tool_name: str, **args: Any) -> str:
    return json.dumps({"thought": "", "action": {"tool": tool_name, "args": args}})


def expected(task: Any) -> str:
    if task.id in ANSWERS:
        return ANSWERS[task.id]
    value = float(task.check.value)
    return str(int(value)) if value.is_integer() else str(value)


def replies(task: Any, variant: str, index: int) -> list[str]:
    """Right answers, but `direct` gets every second task wrong and `react` hallucinates a
    tool once, so the report has failures to count."""
    answer = expected(task)
    queries = SEARCHES.get(task.id)
    if variant == "full":
        if queries:
            steps = [step(f"s{i}", "search", query=q) for i, q in enumerate(queries, 1)]
        else:
            steps = [step("s1", "calculator", expression=f"{answer}*1")]
        return [plan(*steps), finish(answer)]
    if variant == "react":
        calls = (
            [act("search", query=q) for q in queries]
            if queries
            else [act("calculator", expression=f"{answer}*1")]
        )
        if index == 0:
            calls.insert(0, act("abacus", expression=answer))
        return [*calls, act("final_answer", answer=answer)]
    wrong = index % 2 == 1
    return [json.dumps({"reasoning": "step by step", "answer": "0" if wrong else answer})]


def write_cassettes(root: Path, suite: str, limit: int) -> None:
    for index, task in enumerate(load_suite(suite).tasks[:limit]):
        for variant in VARIANTS:
            path = cassette_path(root / suite, variant, task.id)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_cassette(path, *replies(task, variant, index))


def agentlab(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentlab", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_three_architectures_evaluate_and_report_like_any_variant(tmp_path: Path) -> None:
    cassettes, runs = tmp_path / "cassettes", tmp_path / "runs"
    suites = {"math": 2, "multitool": 4}  # multitool's 4th task needs two searches
    for suite, limit in suites.items():
        write_cassettes(cassettes, suite, limit)
        done = agentlab(
            "eval",
            suite,
            *(a for v in VARIANTS for a in ("-v", v)),
            "--limit",
            str(limit),
            "--model",
            f"replay:{cassettes / suite}",
            "--out",
            str(runs / suite),
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stdout + done.stderr

    outcomes: dict[tuple[str, str], str] = {}
    for path in runs.rglob("*.jsonl"):
        header, footer = read_ends(path)
        assert header is not None and footer is not None
        outcomes[(header.task_id, header.variant)] = footer.verdict.outcome
    assert len(outcomes) == 6 * 3
    assert {v: sum(o == "pass" for (_, w), o in outcomes.items() if w == v) for v in VARIANTS} == {
        "full": 6,
        "react": 6,
        "direct": 3,
    }

    report = agentlab("failures", str(runs), "--csv", str(tmp_path / "csv"), cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert "18 runs (0 incomplete, 0 superseded" in report.stdout
    with (tmp_path / "csv" / "variants.csv").open() as handle:
        rows = {r["variant"]: r for r in csv.DictReader(handle)}
    assert {v: (rows[v]["graded"], rows[v]["passed"]) for v in VARIANTS} == {
        "full": ("6", "6"),
        "react": ("6", "6"),
        "direct": ("6", "3"),
    }
    # Mean LLM calls per run: plan + reflect; one per tool call + the answer; one.
    assert float(rows["full"]["llm_calls"]) == 2
    assert float(rows["react"]["llm_calls"]) > 2
    assert float(rows["direct"]["llm_calls"]) == 1
    with (tmp_path / "csv" / "categories.csv").open() as handle:
        text = handle.read()
    assert "planning.invalid_tool" in text and "goal.wrong_answer" in text
    with (tmp_path / "csv" / "paired.csv").open() as handle:
        paired = {r["variant"]: r for r in csv.DictReader(handle)}
    assert set(paired) >= {"react", "direct"}


def test_run_agent_react_and_direct_from_the_cli(tmp_path: Path) -> None:
    react = write_cassette(
        tmp_path / "react.jsonl",
        act("calculator", expression="17*23"),
        act("calculator", expression="391+4"),
        act("final_answer", answer="395"),
    )
    done = agentlab(
        "run", "What is 17*23+4?", "--agent", "react", "--model", f"replay:{react}", cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "answer: 395" in done.stdout and "s2 ok calculator" in done.stdout
    events = only_trace(tmp_path / "agentlab-home" / "runs")
    assert events[0].variant == "react" and "search" in events[0].tools
    assert len(of_type(events, ToolCall)) == 2

    direct = write_cassette(
        tmp_path / "direct.jsonl", json.dumps({"reasoning": "391 + 4", "answer": "395"})
    )
    done = agentlab(
        "run",
        "What is 17*23+4?",
        "--agent",
        "direct",
        "--model",
        f"replay:{direct}",
        "--json",
        "--trace-dir",
        str(tmp_path / "direct-runs"),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["answer"] == "395"
    header = only_trace(tmp_path / "direct-runs")[0]
    assert (header.variant, header.tools) == ("direct", [])

    listed = agentlab("agents", cwd=tmp_path)
    assert "react" in listed.stdout and "direct" in listed.stdout and "math" in listed.stdout


def published_table(suite: str) -> tuple[int, dict[str, tuple[int, float]]]:
    """How many tasks of `suite` ran, and each architecture's passed tasks and LLM calls per
    task, as docs/benchmarks.md shows them in the section `benchmarks/vs_baselines.py` writes."""
    doc = (ROOT / "docs" / "benchmarks.md").read_text()
    section = doc[doc.index("<!-- vs_baselines:begin -->") :]
    heading = section[section.index(f"**{suite} (") :]
    tasks = int(heading[len(f"**{suite} (") :].split()[0])
    table = heading.split("\n\n")[1]
    labels = {"agentlab (full)": "full", "react": "react", "direct": "direct"}
    rows: dict[str, tuple[int, float]] = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[labels[cells[0]]] = (int(cells[1].split("/")[0]), float(cells[4]))
    return tasks, rows


def test_committed_local_model_cassettes_reproduce_the_published_comparison(
    tmp_path: Path,
) -> None:
    """The embedded model's side-by-side run, replayed: every (task, architecture) pair of
    both suites gives the success and LLM calls docs/benchmarks.md reports."""
    for suite in ("math", "multitool"):
        runs = tmp_path / suite
        tasks, published = published_table(suite)
        done = agentlab(
            "eval",
            suite,
            *(a for v in VARIANTS for a in ("-v", v)),
            "--model",
            f"replay:{ROOT / 'docs' / 'baselines' / 'cassettes' / suite}",
            "--limit",
            str(tasks),  # the first N tasks of each suite, as the benchmark ran them
            "--out",
            str(runs),
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        passed: dict[str, int] = dict.fromkeys(VARIANTS, 0)
        calls: dict[str, list[int]] = {v: [] for v in VARIANTS}
        for path in runs.glob("*.jsonl"):
            header, footer = read_ends(path)
            assert header is not None and footer is not None
            assert footer.status != "error", footer.status_detail
            passed[header.variant] += footer.verdict.outcome == "pass"
            calls[header.variant].append(footer.counters.llm_calls)
        replayed = {v: (passed[v], round(sum(calls[v]) / len(calls[v]), 2)) for v in VARIANTS}
        assert all(len(calls[v]) == tasks for v in VARIANTS)
        assert replayed == published
