"""agentlab against its baselines: full agentlab, `react` and `direct`, same model, same tasks.

Runs the shipped arithmetic (`math`) and `multitool` suites under the three
variants in one process, task by task with the three architectures interleaved
(their order rotates from task to task), so machine load and the model's cache
state fall on them alike. Each run is graded and traced by the evaluation
harness; the traces stay in `--out`, so `agentlab failures DIR --baseline react`
gives the full failure report, and an interrupted benchmark resumes (finished
pairs are skipped) when started again. `--record DIR` keeps every run's model
exchanges, so `agentlab eval SUITE -v full -v react -v direct --model
replay:DIR/SUITE` replays the study offline.

The table (success with 95% Wilson intervals, wall time, LLM calls and tokens
per task) goes into the "## agentlab vs baselines" section of
docs/benchmarks.md with `--write`, between markers, so the analysis written
under it stays.

    flock /tmp/agentlab-cpu.lock .venv/bin/python benchmarks/vs_baselines.py --write
    .venv/bin/python benchmarks/vs_baselines.py --smoke    # 2 tasks a suite, replayed from
                                                           # docs/baselines/cassettes
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from machine import describe
from smoke import add_smoke, check_traces, refuse_write

from agentlab.eval import EvalSettings, Evaluation, load_suite
from agentlab.eval.harness import Pair
from agentlab.eval.report.stats import wilson
from agentlab.llm.spec import resolve_model
from agentlab.trace import read_ends

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
SECTION = "## agentlab vs baselines"
BEGIN, END = "<!-- vs_baselines:begin -->", "<!-- vs_baselines:end -->"
VARIANTS = ("full", "react", "direct")
LABELS = {"full": "agentlab (full)", "react": "react", "direct": "direct"}
SUITES = ("math", "multitool")
TARGETS = {"seconds": 0.5, "llm_calls": 0.5, "success": 0.10}
"""Issue 13's targets against react: time and calls as ratios, success in points."""
CASSETTES = ROOT / "docs" / "baselines" / "cassettes"
"""The embedded model's runs of the published comparison, one folder per suite."""


@dataclass(frozen=True)
class Run:
    suite: str
    task: str
    variant: str
    passed: bool
    seconds: float
    llm_calls: int
    tokens_in: int
    tokens_out: int


@dataclass(frozen=True)
class Row:
    """One variant over a set of runs."""

    variant: str
    runs: list[Run]

    @property
    def n(self) -> int:
        return len(self.runs)

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.runs)

    def mean(self, field: str) -> float:
        return statistics.fmean(float(getattr(r, field)) for r in self.runs)

    def median(self, field: str) -> float:
        return statistics.median(float(getattr(r, field)) for r in self.runs)


def run_interleaved(
    suite_name: str, out: Path, model: str, limit: int | None, record: Path | None
) -> None:
    """Every pending (task, variant) pair, task by task, the variants' order rotating."""
    suite = load_suite(suite_name)
    settings = EvalSettings(
        variants=VARIANTS, out_dir=out, model=model, limit=limit, record_dir=record
    )
    evaluation = Evaluation(suite, settings)
    pending = {p.key for p in evaluation.pending()}
    for index, task in enumerate(evaluation.tasks):
        order = VARIANTS[index % 3 :] + VARIANTS[: index % 3]
        for variant in order:
            if (task.id, variant) not in pending:
                continue
            result = evaluation.run_pair(Pair(task, variant))
            print(
                f"{suite_name:9} {task.id:20} {variant:7} {result.outcome or '-':5} "
                f"{result.status:16} {result.seconds:7.1f} s",
                flush=True,
            )


def collect(suite_name: str, out: Path) -> list[Run]:
    """The latest graded run of each (task, variant) in `out`."""
    latest: dict[tuple[str, str], tuple[str, Run]] = {}
    for path in out.glob("*.jsonl"):
        header, footer = read_ends(path)
        if header is None or footer is None or footer.verdict is None:
            continue
        if footer.verdict.outcome not in ("pass", "fail"):
            continue
        run = Run(
            suite=suite_name,
            task=str(header.task_id),
            variant=header.variant,
            passed=footer.verdict.passed,
            seconds=footer.seconds,
            llm_calls=footer.counters.llm_calls,
            tokens_in=footer.counters.tokens_in,
            tokens_out=footer.counters.tokens_out,
        )
        key = (run.task, run.variant)
        if key not in latest or footer.time > latest[key][0]:
            latest[key] = (footer.time, run)
    return [run for _, run in latest.values()]


def rows_of(runs: list[Run]) -> list[Row]:
    return [Row(v, [r for r in runs if r.variant == v]) for v in VARIANTS]


def table(title: str, rows: list[Row]) -> list[str]:
    lines = [
        f"**{title}**",
        "",
        "| architecture | success | 95% CI | wall time / task (mean, median) "
        "| LLM calls / task | prompt tokens / task | completion tokens / task |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if not row.n:
            continue
        ci = wilson(row.passed, row.n)
        lines.append(
            f"| {LABELS[row.variant]} | {row.passed}/{row.n} ({row.passed / row.n:.0%}) "
            f"| {ci.low:.0%}–{ci.high:.0%} | {row.mean('seconds'):.1f} s, "
            f"{row.median('seconds'):.1f} s | {row.mean('llm_calls'):.2f} "
            f"| {row.mean('tokens_in'):,.0f} | {row.mean('tokens_out'):,.0f} |"
        )
    return [*lines, ""]


def ratios(rows: dict[str, Row]) -> list[str]:
    """agentlab against react, with the issue's targets."""
    full, react = rows["full"], rows["react"]
    if not full.n or not react.n:
        return []
    seconds = full.mean("seconds") / react.mean("seconds")
    calls = full.mean("llm_calls") / react.mean("llm_calls")
    tokens = (full.mean("tokens_in") + full.mean("tokens_out")) / (
        react.mean("tokens_in") + react.mean("tokens_out")
    )
    success = full.passed / full.n - react.passed / react.n

    def verdict(ok: bool) -> str:
        return "met" if ok else "not met"

    return [
        "| agentlab / react (all tasks) | measured | target | |",
        "|---|---|---|---|",
        f"| wall time per task | {seconds:.2f}× | ≤ {TARGETS['seconds']}× "
        f"| {verdict(seconds <= TARGETS['seconds'])} |",
        f"| LLM calls per task | {calls:.2f}× | ≤ {TARGETS['llm_calls']}× "
        f"| {verdict(calls <= TARGETS['llm_calls'])} |",
        f"| tokens per task | {tokens:.2f}× | | |",
        f"| success | {success * 100:+.0f} points | ≥ +{TARGETS['success'] * 100:.0f} "
        f"| {verdict(success >= TARGETS['success'] - 1e-9)} |",
        "",
    ]


def generated(model: str, out: Path, suites: tuple[str, ...], runs: list[Run], command: str) -> str:
    by_suite = {s: [r for r in runs if r.suite == s] for s in suites}
    overall = rows_of(runs)
    lines = [
        BEGIN,
        f"Command: `{command}`",
        "",
        f"Model: `{model}`. Machine: {describe()}. Traces: `{out}` "
        f"(`agentlab failures {out} --baseline react` for the failure report).",
        "",
    ]
    for suite, mine in by_suite.items():
        lines += table(f"{suite} ({len({r.task for r in mine})} tasks)", rows_of(mine))
    if len(by_suite) > 1:
        lines += table("all tasks", overall)
    lines += ratios({r.variant: r for r in overall})
    lines.append(END)
    return "\n".join(lines)


def write_section(block: str) -> None:
    """Replace the generated block of the section (or add the section), keeping the prose."""
    doc = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    if BEGIN in doc and END in doc:
        start, end = doc.index(BEGIN), doc.index(END) + len(END)
        doc = doc[:start] + block + doc[end:]
    else:
        intro = (
            f"{SECTION}\n\nFull agentlab against the two baselines (`agentlab.baselines`): "
            "`react`, the standard tool loop (one model call per tool call, actions "
            "schema-constrained as the planner's plans are), and `direct`, the bare model "
            "reasoning step by step without tools. Same model, same tools, same budgets, one "
            "process; tasks run one after another with the three architectures interleaved.\n\n"
        )
        doc = doc.rstrip("\n") + "\n\n" + intro + block + "\n"
    DOC.write_text(doc.rstrip("\n") + "\n")


def warm_up(model: str) -> None:
    """Load the model before the first timed run, so no architecture pays the load."""
    if model.startswith("replay:"):
        return
    started = time.perf_counter()
    resolve_model(model).model.invoke("Say OK.", max_tokens=2)
    print(f"model loaded in {time.perf_counter() - started:.1f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="local:qwen2.5-coder-1.5b")
    parser.add_argument("--suite", action="append", choices=SUITES, help="default: both")
    parser.add_argument("--limit", type=int, help="only the first K tasks of each suite")
    parser.add_argument(
        "--out", type=Path, help="trace directory (default .agentlab/bench/vs-baselines)"
    )
    parser.add_argument(
        "--record", type=Path, help="write each run's cassette to DIR/SUITE/VARIANT/TASK.jsonl"
    )
    parser.add_argument("--report-only", action="store_true", help="tabulate existing traces")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    add_smoke(parser)
    options = parser.parse_args()
    refuse_write(options, "--write")
    suites = tuple(options.suite or SUITES)
    scratch = tempfile.TemporaryDirectory(prefix="agentlab-vs-baselines-")
    if options.smoke:
        options.limit, options.out = 2, Path(scratch.name)
    root = options.out or ROOT / ".agentlab" / "bench" / "vs-baselines"
    if not options.report_only:
        warm_up(options.model)
        for suite in suites:
            record = options.record / suite if options.record else None
            model = f"replay:{CASSETTES / suite}" if options.smoke else options.model
            run_interleaved(suite, root / suite, model, options.limit, record)
    runs = [r for s in suites for r in collect(s, root / s)]
    if options.smoke:
        check_traces(root)
    command = (
        "flock /tmp/agentlab-cpu.lock .venv/bin/python benchmarks/vs_baselines.py "
        + " ".join(a for a in sys.argv[1:] if a != "--report-only")
    )
    block = generated(
        options.model,
        root.relative_to(ROOT) if root.is_relative_to(ROOT) else root,
        suites,
        runs,
        command.strip(),
    )
    print(block)
    if options.write:
        write_section(block)
    scratch.cleanup()


if __name__ == "__main__":
    main()
