"""The first ten tasks of the shipped math suite × the four reflection and planning variants,
replayed from cassettes the embedded model recorded (docs/ablation/planning-qwen2.5-coder-1.5b/
math/cassettes): the report comes out the same twice, and its numbers match counts taken from
the traces read event by event (not through DuckDB)."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from agentlab.eval import EvalSettings, Evaluation, load_suite
from agentlab.eval.report import FailureReport, Table, build_report
from agentlab.events import Footer, Header, ToolCall
from agentlab.failures import FailureEvent
from agentlab.trace import read_trace

ROOT = Path(__file__).resolve().parents[1]
CASSETTES = ROOT / "docs" / "ablation" / "planning-qwen2.5-coder-1.5b" / "math" / "cassettes"
VARIANTS = ("full", "reflection-always", "reflection-never", "plans-3")
TASKS = 10
RUNS = TASKS * len(VARIANTS)
TIMING = {"seconds"}


def evaluate(out: Path) -> FailureReport:
    settings = EvalSettings(
        variants=VARIANTS, out_dir=out, model=f"replay:{CASSETTES}", jobs=2, limit=TASKS
    )
    results = Evaluation(load_suite("math"), settings).run()
    assert len(results) == RUNS and all(r.outcome in ("pass", "fail") for r in results)
    return build_report([out])


def without_timing(table: Table) -> tuple[Any, ...]:
    keep = [i for i, c in enumerate(table.columns) if c not in TIMING]
    return (
        table.name,
        [table.columns[i] for i in keep],
        [[row[i] for i in keep] for row in table.rows],
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, FailureReport, FailureReport]:
    first, second = tmp_path_factory.mktemp("first"), tmp_path_factory.mktemp("second")
    return first, evaluate(first), evaluate(second)


def test_the_report_is_the_same_twice(runs: tuple[Path, FailureReport, FailureReport]) -> None:
    _, one, two = runs
    assert [without_timing(t) for t in one.tables()] == [without_timing(t) for t in two.tables()]
    assert one.stats.runs == two.stats.runs == RUNS


def independent_counts(directory: Path) -> dict[str, Any]:
    """What the report should say, from the trace files read event by event."""
    graded: Counter[str] = Counter()
    passed: Counter[str] = Counter()
    categories: Counter[tuple[str, str]] = Counter()
    calls: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    per_task: dict[tuple[str, str], tuple[str, int, int, int]] = {}
    by_inventory: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for path in directory.glob("*.jsonl"):
        events = read_trace(path)
        header, footer = events[0], events[-1]
        assert isinstance(header, Header) and isinstance(footer, Footer)
        assert footer.verdict is not None and header.task_id is not None
        variant, task = header.variant, header.task_id
        outcome = footer.verdict.outcome
        graded[variant] += 1
        passed[variant] += outcome == "pass"
        counters = footer.counters
        per_task[(task, variant)] = (
            outcome,
            counters.tool_calls,
            counters.llm_calls,
            counters.tokens_in + counters.tokens_out,
        )
        inventory = ",".join(sorted(header.tools))
        for event in events:
            if isinstance(event, FailureEvent):
                categories[(str(event.category), variant)] += 1
                by_inventory[(task, inventory)][str(event.category)] += 1
            elif isinstance(event, ToolCall):
                calls[event.tool] += 1
                errors[event.tool] += event.status == "error"
        # The footer's failure counts agree with the failure events in the trace.
        assert footer.failures == dict(
            Counter(str(e.category) for e in events if isinstance(e, FailureEvent))
        )
    return {
        "graded": graded,
        "passed": passed,
        "categories": categories,
        "calls": calls,
        "errors": errors,
        "per_task": per_task,
        "by_inventory": by_inventory,
    }


def test_numbers_match_the_traces(runs: tuple[Path, FailureReport, FailureReport]) -> None:
    directory, report, _ = runs
    expected = independent_counts(directory)
    assert {v.variant: (v.graded, v.passed) for v in report.variants} == {
        v: (expected["graded"][v], expected["passed"][v]) for v in VARIANTS
    }
    for v in report.variants:
        assert v.rate == expected["passed"][v.variant] / expected["graded"][v.variant]
        assert v.interval.low <= v.rate <= v.interval.high
    assert report.categories == dict(expected["categories"])
    assert {t.tool: (t.calls, t.errors) for t in report.tools if t.calls} == {
        tool: (n, expected["errors"][tool]) for tool, n in expected["calls"].items()
    }
    assert {
        (r.task_id, r.variant): (r.outcome, r.steps, r.llm_calls, r.tokens) for r in report.runs
    } == expected["per_task"]
    failures = report.task_failure_table()
    order = failures.columns[3:]
    assert {
        (row[0], row[1]): {c: n for c, n in zip(order, row[3:], strict=True) if n}
        for row in failures.rows
    } == {key: dict(counts) for key, counts in expected["by_inventory"].items() if counts}
    for comparison in report.comparisons:
        full = {k[0]: v[0] == "pass" for k, v in expected["per_task"].items() if k[1] == "full"}
        other = {
            k[0]: v[0] == "pass"
            for k, v in expected["per_task"].items()
            if k[1] == comparison.variant
        }
        assert comparison.table.b == sum(full[t] and not other[t] for t in full)
        assert comparison.table.c == sum(other[t] and not full[t] for t in full)
        assert comparison.table.n == 10
