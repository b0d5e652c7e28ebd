"""The embedded model, measured side by side in one process.

1. Generation tokens/s through agentlab's backend (`LocalChatModel`) against
   llama-cpp-python called directly on the same prompt and the same loaded
   model, interleaved. The prompt is evaluated once beforehand, so both
   measure generation, not prompt processing.
2. A 3-call run (planner, reflector, planner again: agentlab's real prompts)
   with the KV-cache prefix kept between calls, against the same calls with
   the context reset before each one.
3. Peak resident memory of `agentlab run` on the default model (a child
   process, so this process's model is not counted).

    flock /tmp/agentlab-cpu.lock .venv/bin/python benchmarks/local_model.py [--rounds 5] [--model qwen2.5-coder-1.5b]
    flock /tmp/agentlab-cpu.lock .venv/bin/python benchmarks/local_model.py --smoke

`--smoke` takes the smallest model (smollm2-135m), one round of a few tokens, and
an `agentlab run` replayed from the demo cassette: it checks the script runs.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from smoke import add_smoke, check_traces

from agentlab.llm.local import ROLES, LocalChatModel, local_chat_model
from agentlab.prompts import system_prompt
from agentlab.tools import default_registry

GEN_TOKENS = 96
DEMO_CASSETTE = Path(__file__).resolve().parents[1] / "examples" / "math" / "demo-cassette.jsonl"
PROMPT = "Write a short story about a lighthouse keeper who counts ships. Use plain words."


def _chat(messages: list[BaseMessage]) -> list[dict[str, Any]]:
    return [{"role": ROLES[m.type], "content": str(m.content)} for m in messages]


def generation(model: LocalChatModel, rounds: int, tokens: int) -> tuple[float, float]:
    """Median tokens/s: agentlab backend vs direct create_chat_completion."""
    llama = model.loaded().llama
    messages: list[BaseMessage] = [HumanMessage(PROMPT)]
    model.invoke(messages, max_tokens=tokens)  # evaluates the prompt once for both
    ours, direct = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        reply = model.invoke(messages, max_tokens=tokens)
        elapsed = time.perf_counter() - started
        ours.append(reply.usage_metadata["output_tokens"] / elapsed)  # type: ignore[index]
        started = time.perf_counter()
        out = llama.create_chat_completion(
            messages=_chat(messages), max_tokens=tokens, temperature=0.0, seed=0
        )
        elapsed = time.perf_counter() - started
        direct.append(out["usage"]["completion_tokens"] / elapsed)
    return statistics.median(ours), statistics.median(direct)


def three_calls(model: LocalChatModel, reuse: bool, system_chars: int | None = None) -> float:
    """Seconds for planner → reflector → planner prompts, with or without prefix reuse
    (`system_chars`: the system prompt cut to that length, for a smoke run)."""
    system = system_prompt(default_registry(["calculator"]))[:system_chars]
    task = "A farmer picks 48 apples each day for 7 days and then sells 129 of them. How many are left?"
    prompts = [
        f"PLAN\nTask: {task}",
        f'REFLECT\nTask: {task}\nResults:\n- s1 calculator({{"expression": "48*7"}}) -> 336\n'
        f'- s2 calculator({{"expression": "336-129"}}) -> 207',
        f"PLAN\nTask: {task}\n\nYour previous plan was rejected. Fix these problems:\n- none",
    ]
    llama = model.loaded().llama
    llama.reset()  # a run starts with nothing cached in either mode
    started = time.perf_counter()
    for text in prompts:
        if not reuse:
            llama.reset()
        model.invoke([SystemMessage(system), HumanMessage(text)], max_tokens=1)
    return time.perf_counter() - started


def peak_memory_of_run(spec: str, *, smoke: bool = False) -> float:
    """Peak RSS in GB of `agentlab run` on model `spec` (a child process)."""
    with tempfile.TemporaryDirectory() as home:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "agentlab",
                "run",
                "What is 17*23+4?",
                "--model",
                spec,
                "--tools",
                "calculator",
                "--json",
                "--trace-dir",
                home,
            ],
            check=True,
            capture_output=True,
            timeout=1800,
        )
        if smoke:
            check_traces(Path(home))
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--model", default="qwen2.5-coder-1.5b")
    add_smoke(parser)
    args = parser.parse_args()
    tokens, run_spec = GEN_TOKENS, f"local:{args.model}"
    if args.smoke:
        args.rounds, args.model = 1, "smollm2-135m"
        tokens, run_spec = 8, f"replay:{DEMO_CASSETTE}"
    model = local_chat_model(args.model)
    if not isinstance(model, LocalChatModel):
        raise SystemExit(f"local:{args.model} is not a llama.cpp model")
    ours, direct = generation(model, args.rounds, tokens)
    print(
        f"generation: agentlab {ours:.2f} tok/s, llama-cpp-python direct {direct:.2f} tok/s, "
        f"ratio {ours / direct:.3f} (target >= 0.95)"
    )
    cut = 200 if args.smoke else None
    if not args.smoke:
        three_calls(model, reuse=True)  # warm-up
    with_reuse = statistics.median(three_calls(model, True, cut) for _ in range(args.rounds))
    without = statistics.median(three_calls(model, False, cut) for _ in range(args.rounds))
    print(
        f"3-call prompt processing: {with_reuse:.2f} s with prefix reuse, {without:.2f} s "
        f"without; saved {without - with_reuse:.2f} s ({1 - with_reuse / without:.0%})"
    )
    peak = peak_memory_of_run(run_spec, smoke=args.smoke)
    print(f"peak RSS of `agentlab run` on {run_spec}: {peak:.2f} GB (target <= 2.5 GB)")


if __name__ == "__main__":
    main()
