"""The failure report: success per variant, paired comparisons, failures by category,
task and tool, efficiency, and which tools can be removed.

`build_report` reads traces (see `load`) and returns a `FailureReport` of typed
rows; `FailureReport.tables()` lays them out as `Table`s that the CLI, the CSV
export and the HTML report render alike.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from agentlab.config import WithoutTool, parse_variant
from agentlab.errors import ConfigError
from agentlab.eval.report.load import LoadStats, load_events
from agentlab.eval.report.stats import (
    Interval,
    PairedTable,
    paired_difference_interval,
    wilson,
)
from agentlab.failures import FailureCategory

Section = Literal["variant", "category", "task", "tool"]
SECTIONS: tuple[Section, ...] = ("variant", "category", "task", "tool")
DEFAULT_BASELINE = "full"
SIGNIFICANCE = 0.05
"""The level of the paired test behind the removal verdicts."""
TASK_OUTCOMES = {"pass": "pass", "fail": "fail", "error": "ungraded", None: "ungraded"}


@dataclass(frozen=True, slots=True)
class Table:
    """A titled table of plain values (numbers, strings, None)."""

    name: str
    """A file-safe identifier (CSV file names, HTML anchors)."""
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    note: str = ""


@dataclass(frozen=True, slots=True)
class RunRow:
    run_id: str
    task_id: str
    variant: str
    inventory: str
    status: str
    outcome: str | None
    ref_steps: int | None
    steps: int
    llm_calls: int
    tokens: int
    seconds: float

    @property
    def graded(self) -> bool:
        return self.outcome in ("pass", "fail")


@dataclass(frozen=True, slots=True)
class VariantRow:
    variant: str
    runs: int
    graded: int
    passed: int
    interval: Interval
    answered: int
    steps: float
    llm_calls: float
    tokens: float
    seconds: float

    @property
    def rate(self) -> float | None:
        return self.passed / self.graded if self.graded else None


@dataclass(frozen=True, slots=True)
class Comparison:
    """A variant against the baseline on the tasks both were graded on."""

    variant: str
    baseline: str
    table: PairedTable
    interval: Interval

    @property
    def removed_tool(self) -> str | None:
        try:
            parsed = parse_variant(self.variant)
        except ConfigError:  # a label of several variants (`no-x+no-y`), or an older one
            return None
        return parsed.tool if isinstance(parsed, WithoutTool) else None

    @property
    def verdict(self) -> str:
        """What the paired test says about removing the tool (or flipping the switch), at 5%."""
        if self.table.n == 0:
            return "no paired tasks"
        if self.table.p_value < SIGNIFICANCE and self.table.difference < 0:
            return "keep: success drops without it"
        if self.table.p_value < SIGNIFICANCE and self.table.difference > 0:
            return "remove: success rises without it"
        return f"no significant change (n={self.table.n})"


@dataclass(frozen=True, slots=True)
class ToolRow:
    tool: str
    calls: int
    errors: int
    interval: Interval
    failures: Counter[str]
    items: int = 0
    """Calls that were one item of a fan-out (`for_each`)."""
    not_taken: int = 0
    """Steps of this tool skipped because their `when` condition was false (no call)."""

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.calls if self.calls else None


@dataclass(frozen=True)
class FailureReport:
    """Everything `agentlab failures` shows, as typed rows."""

    sources: tuple[str, ...]
    stats: LoadStats
    baseline: str
    runs: list[RunRow]
    variants: list[VariantRow]
    comparisons: list[Comparison]
    categories: dict[tuple[str, str], int]
    """(category, variant) → failure events."""
    task_failures: dict[tuple[str, str, str], int]
    """(task, tool inventory, category) → failure events."""
    tools: list[ToolRow]
    variant_order: list[str] = field(default_factory=list)

    @property
    def category_order(self) -> list[str]:
        present = {c for c, _ in self.categories}
        known = [c.value for c in FailureCategory if c.value in present]
        return known + sorted(present - set(known))

    @property
    def removals(self) -> list[Comparison]:
        return [c for c in self.comparisons if c.removed_tool is not None]

    def tables(self, sections: Sequence[Section] = SECTIONS) -> list[Table]:
        """The report's tables for the chosen sections, in reading order."""
        builders = {
            "variant": [self.variant_table, self.comparison_table, self.removal_table],
            "category": [self.category_table],
            "task": [self.task_table, self.task_failure_table],
            "tool": [self.tool_table, self.removal_table],
        }
        tables: list[Table] = []
        for section in sections:
            for make in builders[section]:
                table = make()
                if table.name not in {t.name for t in tables}:
                    tables.append(table)
        return tables

    def variant_table(self) -> Table:
        rows = tuple(
            (
                v.variant,
                v.graded,
                v.passed,
                v.rate,
                v.interval.low,
                v.interval.high,
                v.answered,
                v.steps,
                v.llm_calls,
                v.tokens,
                v.seconds,
            )
            for v in self.variants
        )
        return Table(
            "variants",
            "Success rate per variant (95% Wilson interval) and mean cost per run",
            (
                "variant",
                "graded",
                "passed",
                "success",
                "ci_low",
                "ci_high",
                "answered",
                "steps",
                "llm_calls",
                "tokens",
                "seconds",
            ),
            rows,
        )

    def comparison_table(self) -> Table:
        rows = tuple(
            (
                c.variant,
                c.table.n,
                c.table.first_rate,
                c.table.second_rate,
                c.table.difference,
                c.interval.low,
                c.interval.high,
                c.table.b,
                c.table.c,
                c.table.p_value,
            )
            for c in self.comparisons
        )
        return Table(
            "paired",
            f"Each variant against {self.baseline} on the same tasks (McNemar exact test)",
            (
                "variant",
                "tasks",
                self.baseline,
                "variant_success",
                "change",
                "ci_low",
                "ci_high",
                f"only_{self.baseline}",
                "only_variant",
                "p_value",
            ),
            rows,
            note="change = variant − baseline success; 95% Newcombe interval for paired data",
        )

    def removal_table(self) -> Table:
        rows = tuple(
            (
                c.removed_tool,
                c.table.n,
                c.table.first_rate,
                c.table.second_rate,
                c.table.difference,
                c.interval.low,
                c.interval.high,
                c.table.p_value,
                c.verdict,
            )
            for c in self.removals
        )
        return Table(
            "removal",
            "Which tools can be removed: success change when each tool is taken away",
            (
                "tool",
                "tasks",
                "with_tool",
                "without_tool",
                "change",
                "ci_low",
                "ci_high",
                "p_value",
                "verdict",
            ),
            rows,
            note="" if rows else "no no-TOOL variant in these runs",
        )

    def category_table(self) -> Table:
        rows = tuple(
            (
                category,
                *(self.categories.get((category, v), 0) for v in self.variant_order),
                sum(self.categories.get((category, v), 0) for v in self.variant_order),
            )
            for category in self.category_order
        )
        return Table(
            "categories",
            "Failure events per category and variant",
            ("category", *self.variant_order, "total"),
            rows,
        )

    def task_table(self) -> Table:
        rows = tuple(
            (
                r.task_id,
                r.variant,
                TASK_OUTCOMES.get(r.outcome, "ungraded"),
                r.status,
                r.steps,
                r.ref_steps,
                r.llm_calls,
                r.tokens,
                r.seconds,
            )
            for r in sorted(self.runs, key=lambda r: (r.task_id, self._variant_rank(r.variant)))
        )
        return Table(
            "tasks",
            "Per task and variant: outcome, steps (tool calls) against the reference, cost",
            (
                "task",
                "variant",
                "outcome",
                "status",
                "steps",
                "ref_steps",
                "llm_calls",
                "tokens",
                "seconds",
            ),
            rows,
        )

    def task_failure_table(self) -> Table:
        order = self.category_order
        grouped: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        for (task, inventory, category), count in self.task_failures.items():
            grouped[(task, inventory)][category] += count
        rows = tuple(
            (task, inventory, sum(counts.values()), *(counts.get(c, 0) for c in order))
            for (task, inventory), counts in sorted(grouped.items())
        )
        return Table(
            "task_failures",
            "Failure events per task and tool inventory",
            ("task", "tools", "total", *order),
            rows,
        )

    def tool_table(self) -> Table:
        rows = tuple(
            (
                t.tool,
                t.calls,
                t.errors,
                t.error_rate,
                t.interval.low,
                t.interval.high,
                sum(t.failures.values()),
                ", ".join(f"{c}: {n}" for c, n in t.failures.most_common()),
                t.items,
                t.not_taken,
            )
            for t in self.tools
        )
        return Table(
            "tools",
            "Per tool: calls, failed calls (95% Wilson interval), failure events naming it, "
            "calls that were fan-out items, steps not taken (condition false)",
            (
                "tool",
                "calls",
                "errors",
                "error_rate",
                "ci_low",
                "ci_high",
                "failures",
                "categories",
                "items",
                "not_taken",
            ),
            rows,
        )

    def _variant_rank(self, variant: str) -> int:
        return self.variant_order.index(variant) if variant in self.variant_order else 10**6


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _variant_rows(runs: list[RunRow], order: list[str]) -> list[VariantRow]:
    rows = []
    for variant in order:
        mine = [r for r in runs if r.variant == variant]
        graded = [r for r in mine if r.graded]
        passed = sum(1 for r in graded if r.outcome == "pass")
        rows.append(
            VariantRow(
                variant=variant,
                runs=len(mine),
                graded=len(graded),
                passed=passed,
                interval=wilson(passed, len(graded)),
                answered=sum(1 for r in mine if r.status == "answered"),
                steps=_mean([r.steps for r in mine]),
                llm_calls=_mean([r.llm_calls for r in mine]),
                tokens=_mean([r.tokens for r in mine]),
                seconds=_mean([r.seconds for r in mine]),
            )
        )
    return rows


def paired_table(runs: list[RunRow], baseline: str, variant: str) -> PairedTable:
    """Outcomes of `baseline` (first) and `variant` (second) on tasks both were graded on."""
    first = {r.task_id: r.outcome == "pass" for r in runs if r.variant == baseline and r.graded}
    second = {r.task_id: r.outcome == "pass" for r in runs if r.variant == variant and r.graded}
    counts: Counter[tuple[bool, bool]] = Counter(
        (first[t], second[t]) for t in first.keys() & second.keys()
    )
    return PairedTable(
        a=counts[(True, True)],
        b=counts[(True, False)],
        c=counts[(False, True)],
        d=counts[(False, False)],
    )


def _comparisons(runs: list[RunRow], baseline: str, order: list[str]) -> list[Comparison]:
    if baseline not in order:
        return []
    comparisons = []
    for variant in order:
        if variant == baseline:
            continue
        table = paired_table(runs, baseline, variant)
        comparisons.append(Comparison(variant, baseline, table, paired_difference_interval(table)))
    return comparisons


def _variant_order(runs: list[RunRow], baseline: str) -> list[str]:
    names = sorted({r.variant for r in runs})
    return ([baseline] if baseline in names else []) + [n for n in names if n != baseline]


def build_report(paths: Sequence[Path | str], *, baseline: str = DEFAULT_BASELINE) -> FailureReport:
    """Read the traces under `paths` and compute the report."""
    con, stats = load_events([Path(p) for p in paths])
    try:
        runs = [
            RunRow(
                run_id=row[0],
                task_id=row[1],
                variant=row[2],
                inventory=row[3] or "",
                status=row[4] or "?",
                outcome=row[5],
                ref_steps=row[6],
                steps=int(row[7] or 0),
                llm_calls=int(row[8] or 0),
                tokens=int(row[9] or 0),
                seconds=float(row[10] or 0.0),
            )
            for row in con.execute(
                """SELECT run_id, task_id, variant, inventory, status, verdict.outcome,
                          verdict.ref_steps, counters.tool_calls, counters.llm_calls,
                          coalesce(counters.tokens_in, 0) + coalesce(counters.tokens_out, 0),
                          seconds
                   FROM runs"""
            ).fetchall()
        ]
        categories = {
            (category, variant): int(count)
            for variant, category, count in con.execute(
                """SELECT r.variant, e.category, count(*) FROM events e JOIN runs r USING (run_id)
                   WHERE e.type = 'failure' GROUP BY ALL"""
            ).fetchall()
        }
        task_failures = {
            (task, inventory or "", category): int(count)
            for task, inventory, category, count in con.execute(
                """SELECT r.task_id, r.inventory, e.category, count(*)
                   FROM events e JOIN runs r USING (run_id)
                   WHERE e.type = 'failure' GROUP BY ALL"""
            ).fetchall()
        }
        tools = _tool_rows(con)
    finally:
        con.close()
    order = _variant_order(runs, baseline)
    return FailureReport(
        sources=tuple(str(p) for p in paths),
        stats=stats,
        baseline=baseline,
        runs=runs,
        variants=_variant_rows(runs, order),
        comparisons=_comparisons(runs, baseline, order),
        categories=categories,
        task_failures=task_failures,
        tools=tools,
        variant_order=order,
    )


def _tool_rows(con: Any) -> list[ToolRow]:
    # A step skipped by its condition is traced as a `skipped` tool_call: not a call.
    calls = {
        tool: (int(n), int(errors), int(items), int(not_taken))
        for tool, n, errors, items, not_taken in con.execute(
            """SELECT e.tool, count(*) FILTER (WHERE e.status <> 'skipped'),
                      count(*) FILTER (WHERE e.status = 'error'),
                      count(*) FILTER (WHERE e.item IS NOT NULL),
                      count(*) FILTER (WHERE e.status = 'skipped')
               FROM events e JOIN runs r USING (run_id)
               WHERE e.type = 'tool_call' AND e.tool IS NOT NULL GROUP BY ALL"""
        ).fetchall()
    }
    failures: dict[str, Counter[str]] = defaultdict(Counter)
    for tool, category, count in con.execute(
        """SELECT e.tool, e.category, count(*) FROM events e JOIN runs r USING (run_id)
           WHERE e.type = 'failure' AND e.tool IS NOT NULL GROUP BY ALL"""
    ).fetchall():
        failures[tool][category] = int(count)
    rows = []
    for tool in sorted(calls.keys() | failures.keys()):
        n, errors, items, not_taken = calls.get(tool, (0, 0, 0, 0))
        failed = failures.get(tool, Counter())
        rows.append(ToolRow(tool, n, errors, wilson(errors, n), failed, items, not_taken))
    return rows
