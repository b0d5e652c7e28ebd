"""Eval throughput with N workers: runs per second of `Evaluation` on replayed cassettes.

The shipped math suite under 4 variants (100 runs), each run a two-step calculator
plan answering from its template (and, under `reflection-always`, a reflection),
replayed from hand-written cassettes, traces written as in real use. The same study runs with 1, 2 and 4 workers, interleaved over rounds.
With a replayed model the work is Python on 2 cores under the GIL, so this
measures the harness's own overhead and what threads buy; with a real model the
time is the model's and workers overlap its waits.

    .venv/bin/python benchmarks/eval_throughput.py --rounds 3
    .venv/bin/python benchmarks/eval_throughput.py --smoke    # 2 tasks, one round: does it run?
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from smoke import add_smoke, check_traces

from agentlab.eval import EvalSettings, Evaluation, cassette_path, load_suite

VARIANTS = ("full", "no-validator", "reflection-always", "reflection-never")


def write_cassettes(root: Path) -> None:
    for task in load_suite("math").tasks:
        value = task.check.value  # type: ignore[union-attr]
        answer = str(int(value)) if float(value).is_integer() else str(value)
        steps = [
            {"id": "s1", "tool": "calculator", "args": {"expression": f"{answer}*2"}, "why": ""},
            {"id": "s2", "tool": "calculator", "args": {"expression": "${s1}/2"}, "why": ""},
        ]
        plan = json.dumps({"steps": steps, "answer": "${s2}"})
        finish = json.dumps({"decision": "finish", "answer": answer, "critique": ""})
        for variant in VARIANTS:
            replies = [plan]
            if variant == "reflection-always":
                replies.append(finish)
            path = cassette_path(root, variant, task.id)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(json.dumps({"reply": r}) + "\n" for r in replies))


def run_once(cassettes: Path, out: Path, jobs: int, limit: int | None = None) -> tuple[float, int]:
    """Seconds for the whole study, and how many runs it made."""
    settings = EvalSettings(
        variants=VARIANTS, out_dir=out, model=f"replay:{cassettes}", jobs=jobs, limit=limit
    )
    evaluation = Evaluation(load_suite("math"), settings)
    started = time.perf_counter()
    results = evaluation.run()
    seconds = time.perf_counter() - started
    if len(results) != len(evaluation.pairs()) or any(r.outcome != "pass" for r in results):
        raise SystemExit(f"unexpected results: {results}")
    return seconds, len(results)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2, 4])
    add_smoke(parser)
    options = parser.parse_args()
    limit = 2 if options.smoke else None
    if options.smoke:
        options.rounds, options.jobs = 1, [1, 2]
    scratch = Path(tempfile.mkdtemp(prefix="agentlab-eval-bench-"))
    try:
        cassettes = scratch / "cassettes"
        write_cassettes(cassettes)
        run_once(cassettes, scratch / "warmup", 1, limit)
        print("| round | " + " | ".join(f"-j {j}" for j in options.jobs) + " |")
        print("|---|" + "---|" * len(options.jobs))
        for round_ in range(1, options.rounds + 1):
            cells = []
            for jobs in options.jobs:
                seconds, runs = run_once(cassettes, scratch / f"r{round_}-j{jobs}", jobs, limit)
                cells.append(f"{runs / seconds:.1f} runs/s ({seconds * 1000 / runs:.0f} ms/run)")
            print(f"| {round_} | " + " | ".join(cells) + " |", flush=True)
        if options.smoke:
            check_traces(scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
