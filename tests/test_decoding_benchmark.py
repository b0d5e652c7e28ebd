"""benchmarks/decoding.py in smoke mode: a real planner prompt through the worker processes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.local_model


def test_smoke_compares_builds_lookup_and_samplers_on_a_planner_prompt() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "decoding.py"), "--smoke"],
        capture_output=True,
        text=True,
        timeout=900,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    prompt = re.search(
        r"^\| prompt processing, tok/s \(llama.cpp counters\) \| ([\d.]+) \| ([\d.]+) \|", out, re.M
    )
    assert prompt and float(prompt.group(1)) > 0 and float(prompt.group(2)) > 0, out
    generation = re.search(
        r"^\| generation, tok/s \(clock[^|]*\| ([\d.]+) \| ([\d.]+) \|", out, re.M
    )
    assert generation and float(generation.group(1)) > 0, out
    # The same build in two processes decodes the same prompt to the same text, and so
    # does agentlab's LeanLlama (grammar-first greedy sampling) against the stock Llama.
    assert out.count("| outputs identical | | | 1/1 |") == 2, out
    saving = re.search(r"^\| saving the context's state, ms \| ([\d.]+) \| ([\d.]+) \|", out, re.M)
    assert saving, out
    state = re.search(r"^\| a saved state, MB \| ([\d.]+) \| ([\d.]+) \|", out, re.M)
    # The stock state carries the logits buffer (n_batch rows of the vocabulary), ours not.
    assert state and float(state.group(2)) < float(state.group(1)), out
    assert re.search(r"^\| prompt lookup, 2 tokens \| [\d.]+ \|", out, re.M), out
    assert re.search(r"^prompts: 1; generated tokens a pass: [1-8];", out, re.M), out
