"""A decoding process for `benchmarks/decoding.py`: one loaded model, prompts in, counters out.

Runs under whichever Python (so whichever llama-cpp-python build) the benchmark starts it
with, and imports nothing but llama_cpp and the standard library: the other build's
virtualenv need not have agentlab installed. The model is loaded as agentlab's backend
loads it (`agentlab/llm/local.py`: 4096-token context, threads = cores) and called as it
calls it (`create_chat_completion`, temperature 0, seed 0), the KV cache kept from prompt
to prompt as in an agentlab process.

After each prompt the context's state is saved as the prompt cache saves it, and timed.
`--llama agentlab` loads agentlab's `LeanLlama` (agentlab/llm/llama_decoding.py) instead of
the stock class; only that arm needs agentlab importable.

Protocol: once loaded it writes one JSON line (`system_info`), then reads one prompt per
line on stdin (`id`, `messages`, `response_format`, `max_tokens`) and writes one result per
line on stdout, until stdin closes.

Each prompt is decoded in two calls. The first (one token) processes the prompt; the second
finds the prompt cached and only generates, so its time is generation alone. With a draft
model llama.cpp counts the batches that verify drafted tokens as prompt evaluation, so
generation speed is also measured by the clock: completion tokens over the second call's
wall time.

    python benchmarks/decoding_worker.py MODEL.gguf [--lookup N] [--llama stock|agentlab]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import llama_cpp
from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

N_CTX = 4096


def llama_class(name: str) -> Any:
    """`stock`: llama-cpp-python's `Llama`; `agentlab`: the one agentlab's backend loads."""
    if name == "agentlab":
        from agentlab.llm.llama_decoding import LeanLlama

        return LeanLlama
    return llama_cpp.Llama


def load(path: str, lookup: int, llama: str) -> Any:
    threads = os.cpu_count() or 1
    draft = LlamaPromptLookupDecoding(num_pred_tokens=lookup) if lookup else None
    return llama_class(llama)(
        model_path=path,
        n_ctx=N_CTX,
        n_threads=threads,
        n_threads_batch=threads,
        verbose=False,
        draft_model=draft,
        # llama-cpp-python 0.3.x sizes its logits buffer from this argument, not from
        # draft_model, and fails on the first drafted token unless it is set.
        logits_all=bool(lookup),
    )


def complete(llama: Any, prompt: dict[str, Any], max_tokens: int) -> tuple[dict[str, Any], float]:
    llama_cpp.llama_perf_context_reset(llama._ctx.ctx)
    started = time.perf_counter()
    out = llama.create_chat_completion(
        messages=prompt["messages"],
        response_format=prompt["response_format"],
        temperature=0.0,
        max_tokens=max_tokens,
        seed=0,
    )
    return out, time.perf_counter() - started


def counters(llama: Any) -> dict[str, float]:
    perf = llama_cpp.llama_perf_context(llama._ctx.ctx)
    # llama.cpp reports at least 1 for either count even when nothing ran; its time is 0 then.
    return {
        "prompt_ms": perf.t_p_eval_ms,
        "prompt_tokens": perf.n_p_eval if perf.t_p_eval_ms > 0 else 0,
        "eval_ms": perf.t_eval_ms,
        "eval_tokens": perf.n_eval if perf.t_eval_ms > 0 else 0,
    }


def decode(llama: Any, prompt: dict[str, Any]) -> dict[str, Any]:
    """The prompt processed, then generated from the cache; counters and clock of each."""
    _, prompt_wall = complete(llama, prompt, 1)
    prompt_perf = counters(llama)
    out, gen_wall = complete(llama, prompt, prompt["max_tokens"])
    gen_perf = counters(llama)
    started = time.perf_counter()
    state = llama.save_state()
    save_s = time.perf_counter() - started
    return {
        "id": prompt["id"],
        "text": out["choices"][0]["message"]["content"],
        "completion_tokens": out["usage"]["completion_tokens"],
        "prompt_wall_s": prompt_wall,
        "gen_wall_s": gen_wall,
        "prompt_ms": prompt_perf["prompt_ms"],
        "prompt_tokens": prompt_perf["prompt_tokens"],
        "eval_ms": gen_perf["eval_ms"],
        "eval_tokens": gen_perf["eval_tokens"],
        "state_save_s": save_s,
        "state_bytes": state.llama_state_size + state.scores.nbytes + state.input_ids.nbytes,
    }


def reply(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--lookup", type=int, default=0, help="num_pred_tokens (0: no drafts)")
    parser.add_argument("--llama", choices=("stock", "agentlab"), default="stock")
    args = parser.parse_args()
    llama = load(args.model, args.lookup, args.llama)
    try:
        # Pages the weights in and starts the threads before anything is timed.
        llama.create_completion("Hello", max_tokens=1)
        llama.reset()
        reply({"system_info": llama_cpp.llama_print_system_info().decode().strip()})
        for line in sys.stdin:
            reply(decode(llama, json.loads(line)))
    finally:
        llama.close()


if __name__ == "__main__":
    main()
