"""`agentlab failures` on 1,000,000 generated trace events: wall time and peak memory.

Generates eval traces shaped like real ones (header, node steps, model calls with
a prompt, tool calls, failures, verdict, footer; 4 variants, one trace file per
run), then times, each in a fresh process:

- the report library alone (`build_report`: DuckDB scan, queries, statistics);
- the CLI as a user runs it (`agentlab failures DIR`, Python start-up included);
- the CLI writing the HTML report with its plots.

Peak memory is the child process's maximum resident set size.

    .venv/bin/python benchmarks/failures_report.py --events 1000000
    .venv/bin/python benchmarks/failures_report.py --smoke    # 2,000 events, one round
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from smoke import add_smoke, check_traces

from agentlab.events import (
    Event,
    Footer,
    Graded,
    Header,
    ModelCall,
    NodeStep,
    ToolCall,
    Verdict,
    event_json,
)
from agentlab.failures import FailureCategory, FailureEvent
from agentlab.state import Counters
from agentlab.stops import Answered

VARIANTS = ("full", "no-validator", "no-reflection", "no-calculator")
CATEGORIES = (
    "planning.invalid_arguments",
    "planning.bad_reference",
    "execution.tool_error",
    "goal.wrong_answer",
    "reflection.premature_finish",
    "efficiency.repeated_action",
)
PROMPT = "You are agentlab, an agent that solves tasks by planning tool calls. " * 12


def run_events(rng: random.Random, run: int, task: str, variant: str) -> list[Event | FailureEvent]:
    """One run's events, about 60 of them, like a real trace's."""
    run_id = f"run{run:07d}"
    t = f"2026-01-01T00:00:{run % 60:02d}.000000+00:00"
    tools = ["python"] if variant == "no-calculator" else ["calculator", "python"]
    events: list[Event | FailureEvent] = [
        Header(
            run_id=run_id,
            time=t,
            task=f"task {task}",
            task_id=task,
            variant=variant,
            model="local:qwen2.5-coder-1.5b",
            tools=tools,
            config={"variant": variant, "validator": variant != "no-validator"},
        )
    ]
    passed = rng.random() < 0.6
    for step in range(rng.randint(9, 13)):
        events.append(
            NodeStep(run_id=run_id, time=t, node="planner", duration_s=0.01, goto="validator")
        )
        events.append(
            ModelCall(
                run_id=run_id,
                time=t,
                node="planner",
                model="local:qwen2.5-coder-1.5b",
                messages=[
                    {"role": "system", "content": PROMPT},
                    {"role": "human", "content": f"PLAN {task}"},
                ],
                reply='{"steps": []}',
                tokens_in=600,
                tokens_out=40,
                latency_s=1.2,
            )
        )
        tool = rng.choice(tools)
        ok = rng.random() < 0.85
        events.append(
            ToolCall(
                run_id=run_id,
                time=t,
                step_id=f"s{step}",
                tool=tool,
                args={"expression": "17*23"},
                status="ok" if ok else "error",
                output="391" if ok else "error: bad expression",
                started=0.0,
                ended=0.001,
                duration_s=0.001,
            )
        )
        events.append(
            NodeStep(run_id=run_id, time=t, node="executor", duration_s=0.002, goto="reflector")
        )
        if not ok:
            events.append(
                FailureEvent(
                    run_id=run_id,
                    time=t,
                    category=FailureCategory.EXECUTION_TOOL_ERROR,
                    detail="bad expression",
                    node="executor",
                    step_id=f"s{step}",
                    tool=tool,
                    args={"expression": "17*23"},
                    task_id=task,
                    variant=variant,
                )
            )
    if not passed:
        for category in rng.sample(CATEGORIES, 2):
            events.append(
                FailureEvent(
                    run_id=run_id,
                    time=t,
                    category=FailureCategory(category),
                    detail="x",
                    node="eval",
                    task_id=task,
                    variant=variant,
                )
            )
    verdict = Verdict(
        outcome="pass" if passed else "fail",
        check="numeric",
        expected="395",
        suite="bench",
        ref_steps=2,
    )
    events.append(Graded(run_id=run_id, time=t, **verdict.model_dump()))
    events.append(
        Footer(
            run_id=run_id,
            time=t,
            status="answered",
            stop=Answered(),
            answer="395",
            counters=Counters(
                llm_calls=8, tokens_in=4800, tokens_out=320, tool_calls=11, replans=1
            ),
            seconds=round(rng.uniform(5, 40), 3),
            verdict=verdict,
        )
    )
    return events


def generate(directory: Path, target: int, seed: int) -> tuple[int, int, int]:
    """Write traces until `target` events; returns (events, runs, bytes)."""
    rng = random.Random(seed)
    events = runs = size = 0
    while events < target:
        task = f"t{runs // len(VARIANTS):05d}"
        variant = VARIANTS[runs % len(VARIANTS)]
        lines = [json.dumps(event_json(e)) for e in run_events(rng, runs, task, variant)]
        text = "\n".join(lines) + "\n"
        (directory / f"run{runs:07d}.jsonl").write_text(text)
        events += len(lines)
        size += len(text)
        runs += 1
    return events, runs, size


def measure(args: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MiB) and stdout of a child process. A wrapper process runs
    it, since RUSAGE_CHILDREN's maximum covers every child a process ever had."""
    wrapper = (
        "import resource, subprocess, sys, time, json\n"
        "t = time.perf_counter()\n"
        "r = subprocess.run(sys.argv[1:], capture_output=True, text=True, stdin=subprocess.DEVNULL)\n"
        "s = time.perf_counter() - t\n"
        "if r.returncode: sys.stderr.write(r.stderr); sys.exit(1)\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "print(json.dumps([s, peak, r.stdout]))\n"
    )
    done = subprocess.run([sys.executable, "-c", wrapper, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr}")
    seconds, mib, out = json.loads(done.stdout)
    return float(seconds), float(mib), str(out)


LIBRARY = (
    "import sys, time; t = time.perf_counter(); "
    "from agentlab.eval.report import build_report; r = build_report([sys.argv[1]]); "
    "assert r.stats.runs > 0; print(time.perf_counter() - t)"
)
"""Times the report library in-process (after imports); the process's peak RSS is measured."""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="Generate into this directory and keep it.")
    add_smoke(parser)
    options = parser.parse_args()
    if options.smoke:
        options.events, options.rounds = 2_000, 1
    directory = options.keep or Path(tempfile.mkdtemp(prefix="agentlab-bench-"))
    directory.mkdir(parents=True, exist_ok=True)
    try:
        started = time.perf_counter()
        events, runs, size = generate(directory, options.events, options.seed)
        print(
            f"generated {events:,} events in {runs:,} trace files ({size / 2**20:.0f} MiB) "
            f"in {time.perf_counter() - started:.0f} s",
            flush=True,
        )
        if options.smoke:
            check_traces(directory)
        agentlab = [sys.executable, "-m", "agentlab"]
        html = directory.parent / f"{directory.name}-report.html"
        rows = []
        for round_ in range(1, options.rounds + 1):
            _, library_mib, inside = measure([sys.executable, "-c", LIBRARY, str(directory)])
            library = (float(inside), library_mib)
            cli = measure([*agentlab, "failures", str(directory)])
            with_html = measure([*agentlab, "failures", str(directory), "--html", str(html)])
            rows.append((round_, library, cli, with_html))
            print(
                f"round {round_}: library {library[0]:.2f} s / {library[1]:.0f} MiB, "
                f"CLI {cli[0]:.2f} s / {cli[1]:.0f} MiB, CLI + HTML {with_html[0]:.2f} s / "
                f"{with_html[1]:.0f} MiB",
                flush=True,
            )
        print()
        print(
            f"Machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
            f"Python {platform.python_version()}"
        )
        print("| run | report library | `agentlab failures` | with `--html` (plots) |")
        print("|---|---|---|---|")
        for round_, library, cli, with_html in rows:
            print(
                f"| {round_} | {library[0]:.2f} s, {library[1]:.0f} MiB | {cli[0]:.2f} s, "
                f"{cli[1]:.0f} MiB | {with_html[0]:.2f} s, {with_html[1]:.0f} MiB |"
            )
        html.unlink(missing_ok=True)
    finally:
        if options.keep is None:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
