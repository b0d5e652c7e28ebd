"""Eval throughput: runs per second of `Evaluation` in one process and in worker processes.

The shipped math suite under 4 variants (100 runs), each run a two-step
calculator plan answered from its template (and, under `reflection-always`, a
reflection),
replayed from hand-written cassettes, traces written and graded as in real use.
The same study runs in this process (`-j 1`) and on 2 (and 4) worker processes,
interleaved over rounds; every configuration must give the same verdicts. With a
replayed model a run is Python, so only processes (one interpreter per core) can
speed it up. `--ray` adds a run on a local Ray cluster of 2 CPUs.

    flock /tmp/agentlab-cpu.lock .venv/bin/python benchmarks/eval_throughput.py --rounds 3
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


def run_once(
    cassettes: Path, out: Path, jobs: int, limit: int | None, ray: str | None = None
) -> tuple[float, dict[tuple[str, str], str | None]]:
    """Seconds for the whole study, and its verdicts by pair."""
    settings = EvalSettings(
        variants=VARIANTS, out_dir=out, model=f"replay:{cassettes}", jobs=jobs, limit=limit,
        ray=ray,
    )  # fmt: skip
    evaluation = Evaluation(load_suite("math"), settings)
    started = time.perf_counter()
    results = evaluation.run()
    seconds = time.perf_counter() - started
    if len(results) != len(evaluation.pairs()) or any(r.outcome != "pass" for r in results):
        raise SystemExit(f"unexpected results: {results}")
    return seconds, {(r.task_id, r.variant): r.outcome for r in results}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--ray", action="store_true", help="also a local Ray cluster of 2 CPUs")
    add_smoke(parser)
    options = parser.parse_args()
    limit = 2 if options.smoke else None
    if options.smoke:
        options.rounds, options.jobs = 1, [1, 2]
    columns = [(f"-j {j}" if j == 1 else f"-j {j} (processes)", j, None) for j in options.jobs]
    if options.ray:
        columns.append(("--ray local -j 2", 2, "local"))
    scratch = Path(tempfile.mkdtemp(prefix="agentlab-eval-bench-"))
    try:
        cassettes = scratch / "cassettes"
        write_cassettes(cassettes)
        # Warm-up: imports, and the fork server the worker processes start from.
        _, reference = run_once(cassettes, scratch / "warmup-1", 1, limit)
        run_once(cassettes, scratch / "warmup-2", 2, limit)
        print("| round | " + " | ".join(name for name, _, _ in columns) + " | -j 2 / -j 1 |")
        print("|---|" + "---|" * (len(columns) + 1))
        for round_ in range(1, options.rounds + 1):
            cells, rates = [], {}
            for name, jobs, ray in columns:
                out = scratch / f"r{round_}-{len(cells)}"
                seconds, verdicts = run_once(cassettes, out, jobs, limit, ray)
                if verdicts != reference:
                    raise SystemExit(f"{name} gave other verdicts than -j 1")
                runs = len(verdicts)
                rates[(jobs, ray)] = runs / seconds
                cells.append(f"{runs / seconds:.1f} runs/s ({seconds * 1000 / runs:.0f} ms/run)")
            ratio = rates[(2, None)] / rates[(1, None)] if (2, None) in rates else float("nan")
            print(f"| {round_} | " + " | ".join(cells) + f" | {ratio:.2f}× |", flush=True)
        if options.smoke:
            check_traces(scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
