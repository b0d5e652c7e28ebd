"""Decoding speed of the embedded model, side by side on agentlab's own planner prompts.

The prompts are the first planner call of every task of the shipped `math` and
`multitool` suites, exactly as agentlab sends it to the local backend: the real
agent runs each task against a model that records the request and stops the
run (system prompt, plan request, the plan JSON schema that llama.cpp turns
into a grammar, `max_tokens` 512), decoded greedily, prompt processing and
generation measured apart, from llama.cpp's own counters and by the clock.

Each arm of a comparison is a worker process (`decoding_worker.py`) with the
model loaded. Every prompt goes to the arms in turn (A, B, A, B, ...: the
first arm rotates from prompt to prompt) under one hold of the CPU lock
(/tmp/agentlab-cpu.lock, taken by the benchmark itself, so do not wrap it in
`flock`; other model runs fit in between prompts), so a burst of load on the
shared machine falls on every arm alike. A round is one pass over the prompts;
each arm's figures are its median over the rounds, with their range.

- `builds`: two llama-cpp-python builds (two virtualenvs' Pythons; they cannot
  share a process): tok/s of each, the ratio, and whether the outputs are the
  same.
- `lookup`: this build with and without prompt-lookup speculative decoding
  (`LlamaPromptLookupDecoding` as the draft model) for each `--pred`
  (num_pred_tokens): generation speed by the clock (llama.cpp counts the
  batches that verify drafts as prompt evaluation), and whether the outputs
  are the same.
- `sampler`: this build with llama-cpp-python's stock `Llama` and with the `LeanLlama`
  agentlab loads (grammar-first greedy sampling, context states without logits):
  generation speed by the clock, the time and size of a saved state, and whether the
  outputs are the same.
- `--smoke`: all three comparisons on one task with `local:smollm2-135m` and a few
  tokens, to check the plumbing (tests/test_decoding_benchmark.py).

    .venv/bin/python benchmarks/decoding.py builds --baseline OTHER_VENV/bin/python --rounds 3
    .venv/bin/python benchmarks/decoding.py lookup --pred 2 --pred 5 --pred 10 --rounds 3
    .venv/bin/python benchmarks/decoding.py sampler --rounds 3
    .venv/bin/python benchmarks/decoding.py --smoke
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, ClassVar

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult
from machine import describe
from pydantic import Field
from smoke import add_smoke

from agentlab import AgentConfig
from agentlab.eval import Task, load_suite
from agentlab.eval.harness import pair_config, pair_tools
from agentlab.llm.local import ROLES, llama_response_format
from agentlab.llm.weights import gguf_path, model_spec
from agentlab.runner import Runner
from agentlab.trace import MemoryTraceSink

WORKER = Path(__file__).resolve().with_name("decoding_worker.py")
SUITES = ("math", "multitool")
CPU_LOCK = Path("/tmp/agentlab-cpu.lock")
SMOKE_TOKENS = 8


class RequestRecorded(Exception):
    """Ends a run at its first model call, once the request is recorded."""


class RecordingModel(BaseChatModel):
    """A backend that enforces schemas, as the local one does: it records what agentlab
    would send llama.cpp and fails the call, so the run stops there."""

    supports_json_schema: ClassVar[bool] = True
    requests: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "agentlab-request-recorder"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.requests.append(
            {
                "messages": [
                    {"role": ROLES.get(m.type, "user"), "content": str(m.content)} for m in messages
                ],
                "response_format": llama_response_format(kwargs.get("response_format")),
                "max_tokens": kwargs.get("max_tokens"),
            }
        )
        raise RequestRecorded


def planner_prompt(suite: str, task: Task) -> dict[str, Any]:
    """The first request agentlab's planner sends for `task` (the `full` variant)."""
    config = pair_config(AgentConfig(), task, "full")
    recorder = RecordingModel()
    with Runner(
        config, model=recorder, tools=pair_tools(task, config), trace_dir=MemoryTraceSink()
    ) as runner:
        runner.run(task.prompt, task_id=task.id)
    if not recorder.requests:
        raise SystemExit(f"{suite}/{task.id}: the agent made no model call")
    request = recorder.requests[0]
    if request["response_format"] is None:
        raise SystemExit(f"{suite}/{task.id}: the first call carries no JSON schema")
    return {"id": f"{suite}/{task.id}", **request}


def planner_prompts(limit: int | None) -> list[dict[str, Any]]:
    """The first planner request of each task of the shipped suites (the first `limit` each)."""
    prompts = []
    for suite in SUITES:
        tasks = load_suite(suite).tasks[:limit]
        prompts += [planner_prompt(suite, t) for t in tasks]
    return prompts


@contextmanager
def cpu_lock(path: Path | None) -> Iterator[None]:
    """Holds the machine's model-run lock (none when `path` is None)."""
    if path is None:
        yield
        return
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class Pass:
    """One arm's decode of every prompt in one round."""

    label: str
    results: list[dict[str, Any]]
    system_info: str
    load: float
    """The machine's 1-minute load average when the round ended."""

    def _rate(self, tokens: str, ms: str) -> float:
        time_ms = sum(r[ms] for r in self.results)
        return 1000 * sum(r[tokens] for r in self.results) / time_ms if time_ms else 0.0

    @property
    def prompt_tps(self) -> float:
        """Prompt processing, llama.cpp's counters (tokens not already in the KV cache)."""
        return self._rate("prompt_tokens", "prompt_ms")

    @property
    def prompt_clock_tps(self) -> float:
        """Prompt processing by the clock (the one-token call: templating, grammar and one
        sampled token included). llama.cpp's timer misses the batches of a context that
        keeps every token's logits (lookup decoding), its token count does not."""
        seconds = sum(float(r["prompt_wall_s"]) for r in self.results)
        return sum(int(r["prompt_tokens"]) for r in self.results) / seconds

    @property
    def decode_tps(self) -> float:
        """Generation, llama.cpp's counters: single-token decodes only."""
        return self._rate("eval_tokens", "eval_ms")

    @property
    def gen_tps(self) -> float:
        """Generation by the clock: completion tokens over the generating calls' wall time,
        sampling and grammar included."""
        tokens = sum(int(r["completion_tokens"]) for r in self.results)
        return tokens / sum(float(r["gen_wall_s"]) for r in self.results)

    @property
    def wall_s(self) -> float:
        return sum(float(r["prompt_wall_s"]) + float(r["gen_wall_s"]) for r in self.results)

    @property
    def state_save_ms(self) -> float:
        """Mean time to save the context's state after a prompt, as the prompt cache does."""
        return 1000 * statistics.mean(float(r["state_save_s"]) for r in self.results)

    @property
    def state_mb(self) -> float:
        """Mean size of a saved state (llama.cpp's state, logits and tokens), MB."""
        return statistics.mean(int(r["state_bytes"]) for r in self.results) / 1e6

    @property
    def texts(self) -> dict[str, str]:
        return {r["id"]: r["text"] for r in self.results}


@dataclass(frozen=True)
class Arm:
    """One side of a comparison: a build (its Python), prompt lookup, and which `Llama`."""

    python: str
    lookup: int = 0
    llama: str = "stock"


class Worker:
    """A `decoding_worker.py` process: one build (its Python), one model, one decoding mode."""

    def __init__(self, label: str, arm: Arm, model: Path) -> None:
        self.label = label
        command = [arm.python, str(WORKER), str(model), "--lookup", str(arm.lookup)]
        command += ["--llama", arm.llama]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.requests: IO[str] = self.process.stdin  # type: ignore[assignment]
        self.replies: IO[str] = self.process.stdout  # type: ignore[assignment]
        self.system_info = str(self._read()["system_info"])

    def _read(self) -> dict[str, Any]:
        line = self.replies.readline()
        if not line:
            raise SystemExit(f"{self.label}: the worker exited ({self.process.wait()})")
        message: dict[str, Any] = json.loads(line)
        return message

    def decode(self, prompt: dict[str, Any]) -> dict[str, Any]:
        self.requests.write(json.dumps(prompt) + "\n")
        self.requests.flush()
        return self._read()

    def close(self) -> None:
        self.requests.close()
        self.process.wait(timeout=60)


def alternate(
    arms: dict[str, Arm],
    model: Path,
    prompts: list[dict[str, Any]],
    rounds: int,
    lock: Path | None,
) -> dict[str, list[Pass]]:
    """`rounds` passes over the prompts; each prompt goes through every arm (one worker
    process each) in turn, the first arm rotating from prompt to prompt,
    under one hold of the CPU lock, so a burst of load falls on all arms alike."""
    workers = [Worker(label, arm, model) for label, arm in arms.items()]
    passes: dict[str, list[Pass]] = {label: [] for label in arms}
    try:
        for number in range(rounds):
            results: dict[str, list[dict[str, Any]]] = {label: [] for label in arms}
            for index, prompt in enumerate(prompts):
                turn = (index + number) % len(workers)
                with cpu_lock(lock):
                    for worker in workers[turn:] + workers[:turn]:
                        results[worker.label].append(worker.decode(prompt))
            load = os.getloadavg()[0]
            print(f"round {number + 1}/{rounds}, load {load:.2f}", file=sys.stderr, flush=True)
            for worker in workers:
                done = Pass(worker.label, results[worker.label], worker.system_info, load)
                passes[worker.label].append(done)
                print(
                    f"  {worker.label}: prompt {done.prompt_tps:.1f} tok/s, generation "
                    f"{done.gen_tps:.2f} tok/s (counters {done.decode_tps:.2f}), {done.wall_s:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        for worker in workers:
            worker.close()
    return passes


def spread(values: list[float], digits: int) -> str:
    """Median, and the range when there is more than one value."""
    middle = f"{statistics.median(values):.{digits}f}"
    if len(values) < 2:
        return middle
    return f"{middle} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def ratio(
    passes: list[Pass], baseline: list[Pass], field: str, invert: bool = False
) -> tuple[float, list[float]]:
    """Median ratio of the medians and the per-round paired ratios of `field`."""
    ours = [getattr(p, field) for p in passes]
    theirs = [getattr(p, field) for p in baseline]
    pairs = [(b / a if invert else a / b) for a, b in zip(ours, theirs, strict=True) if a and b]
    middle = statistics.median(ours), statistics.median(theirs)
    return (middle[1] / middle[0] if invert else middle[0] / middle[1]), pairs


def same_outputs(passes: list[Pass], baseline: list[Pass]) -> tuple[int, int, list[str]]:
    """Prompts whose output is the same in every pass of both arms; and the others' ids."""
    ids = list(baseline[0].texts)
    differing = [i for i in ids if len({p.texts[i] for p in [*passes, *baseline]}) > 1]
    return len(ids) - len(differing), len(ids), differing


def deterministic(passes: list[Pass]) -> bool:
    return all(p.texts == passes[0].texts for p in passes)


def rate_row(a: list[Pass], b: list[Pass], name: str, field: str, digits: int) -> str:
    """A row of both arms' rates of `field` and their ratio (higher is faster)."""
    middle, pairs = ratio(b, a, field)
    return (
        f"| {name} | {spread([getattr(p, field) for p in a], digits)} "
        f"| {spread([getattr(p, field) for p in b], digits)} "
        f"| {middle:.2f}× ({min(pairs):.2f}–{max(pairs):.2f}) |"
    )


def closing_rows(a: list[Pass], b: list[Pass]) -> list[str]:
    """The wall time of a pass and whether the outputs are the same."""
    middle, pairs = ratio(b, a, "wall_s", invert=True)
    same, total, differing = same_outputs(b, a)
    return [
        f"| wall time of a pass, s | {spread([p.wall_s for p in a], 0)} "
        f"| {spread([p.wall_s for p in b], 0)} | {middle:.2f}× faster "
        f"({min(pairs):.2f}–{max(pairs):.2f}) |",
        f"| outputs identical | | | {same}/{total}"
        + (f" (differ: {', '.join(differing)})" if differing else "")
        + " |",
    ]


def builds_table(passes: dict[str, list[Pass]], baseline: str, candidate: str) -> str:
    a, b = passes[baseline], passes[candidate]  # columns: a | b | b / a
    lines = [
        f"| measure | {baseline} | {candidate} | {candidate} / {baseline} (per-round range) |",
        "|---|---|---|---|",
    ]
    rows = (
        ("prompt processing, tok/s (llama.cpp counters)", "prompt_tps", 1),
        ("prompt processing, tok/s (clock)", "prompt_clock_tps", 1),
        ("generation, tok/s (llama.cpp counters)", "decode_tps", 2),
        ("generation, tok/s (clock: sampling and grammar included)", "gen_tps", 2),
    )
    lines += [rate_row(a, b, *row) for row in rows]
    return "\n".join(lines + closing_rows(a, b))


def lookup_table(passes: dict[str, list[Pass]], baseline: str) -> str:
    plain = passes[baseline]
    lines = [
        "| decoding | generation tok/s (clock) | vs plain (per-round range) "
        "| prompt tok/s (clock) | wall of a pass, s | outputs identical to plain |",
        "|---|---|---|---|---|---|",
    ]
    for label, runs in passes.items():
        middle, pairs = ratio(runs, plain, "gen_tps")
        same, total, differing = same_outputs(runs, plain)
        identical = "—" if label == baseline else f"{same}/{total}"
        if differing and label != baseline:
            identical += f" (differ: {', '.join(differing)})"
        lines.append(
            f"| {label} | {spread([p.gen_tps for p in runs], 2)} "
            f"| {middle:.2f}× ({min(pairs):.2f}–{max(pairs):.2f}) "
            f"| {spread([p.prompt_clock_tps for p in runs], 1)} "
            f"| {spread([p.wall_s for p in runs], 0)} | {identical} |"
        )
    return "\n".join(lines)


def sampler_table(passes: dict[str, list[Pass]], baseline: str, candidate: str) -> str:
    a, b = passes[baseline], passes[candidate]
    lines = [
        f"| measure | {baseline} | {candidate} | {candidate} / {baseline} (per-round range) |",
        "|---|---|---|---|",
    ]
    lines += [
        rate_row(a, b, "generation, tok/s (clock: sampling and grammar included)", "gen_tps", 2),
        rate_row(a, b, "generation, tok/s (llama.cpp counters)", "decode_tps", 2),
    ]
    middle, pairs = ratio(b, a, "state_save_ms", invert=True)
    lines.append(
        f"| saving the context's state, ms | {spread([p.state_save_ms for p in a], 0)} "
        f"| {spread([p.state_save_ms for p in b], 0)} "
        f"| {middle:.1f}× faster ({min(pairs):.1f}–{max(pairs):.1f}) |"
    )
    lines.append(
        f"| a saved state, MB | {spread([p.state_mb for p in a], 0)} "
        f"| {spread([p.state_mb for p in b], 0)} | |"
    )
    return "\n".join(lines + closing_rows(a, b))


def footer(passes: dict[str, list[Pass]], prompts: list[dict[str, Any]]) -> str:
    generated = [r["completion_tokens"] for r in next(iter(passes.values()))[0].results]
    loads = [p.load for runs in passes.values() for p in runs]
    lines = [
        f"prompts: {len(prompts)}; generated tokens a pass: {sum(generated)}; "
        f"load average at the end of a round: {min(loads):.2f}–{max(loads):.2f}",
        f"machine: {describe()}",
    ]
    for label, runs in passes.items():
        lines.append(f"{label}: {runs[0].system_info}")
        if not deterministic(runs):
            lines.append(f"{label}: outputs differ from round to round")
    return "\n".join(lines)


def save(passes: dict[str, list[Pass]], where: Path | None, comparison: str) -> None:
    if where is None:
        return
    where.mkdir(parents=True, exist_ok=True)
    runs = {label: [p.results for p in arm] for label, arm in passes.items()}
    (where / f"{comparison}.json").write_text(json.dumps(runs, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("comparison", nargs="?", choices=("builds", "lookup", "sampler"))
    parser.add_argument("--model", default="qwen2.5-coder-1.5b")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None, help="first N tasks of each suite")
    parser.add_argument("--baseline", help="`builds`: the Python of the build to compare against")
    parser.add_argument("--pred", type=int, action="append", help="`lookup`: num_pred_tokens")
    parser.add_argument("--lock", type=Path, default=CPU_LOCK, help="the CPU lock file")
    parser.add_argument("--no-lock", action="store_true", help="the caller holds the CPU lock")
    parser.add_argument("--save", type=Path, help="write every pass's results (JSON) here")
    add_smoke(parser)
    args = parser.parse_args()
    smoke = bool(args.smoke)
    if not smoke and args.comparison is None:
        parser.error("name a comparison (builds, lookup, sampler) or give --smoke")
    model = gguf_path(model_spec("smollm2-135m" if smoke else args.model))
    lock = None if args.no_lock or smoke else args.lock
    if smoke:
        prompts = [planner_prompt("math", load_suite("math").tasks[0])]
    else:
        prompts = planner_prompts(args.limit)
    rounds = 1 if smoke else args.rounds
    max_tokens = SMOKE_TOKENS if smoke else None
    prompts = [{**p, "max_tokens": max_tokens or p["max_tokens"]} for p in prompts]
    if smoke or args.comparison == "builds":
        baseline = args.baseline or sys.executable
        arms = {"A (baseline)": Arm(baseline), "B (this venv)": Arm(sys.executable)}
        passes = alternate(arms, model, prompts, rounds, lock)
        save(passes, args.save, "builds")
        print(builds_table(passes, *arms))
        print(footer(passes, prompts))
    if smoke or args.comparison == "lookup":
        preds = [2] if smoke else (args.pred or [2, 5, 10])
        arms = {"plain": Arm(sys.executable)}
        arms |= {f"prompt lookup, {n} tokens": Arm(sys.executable, n) for n in preds}
        passes = alternate(arms, model, prompts, rounds, lock)
        save(passes, args.save, "lookup")
        print(lookup_table(passes, "plain"))
        print(footer(passes, prompts))
    if smoke or args.comparison == "sampler":
        arms = {
            "stock Llama": Arm(sys.executable),
            "agentlab's LeanLlama": Arm(sys.executable, llama="agentlab"),
        }
        passes = alternate(arms, model, prompts, rounds, lock)
        save(passes, args.save, "sampler")
        print(sampler_table(passes, *arms))
        print(footer(passes, prompts))


if __name__ == "__main__":
    main()
