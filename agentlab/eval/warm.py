"""Imported by the fork server that `agentlab eval -j N` workers start from.

Importing this module runs one replayed pair in a scratch folder, so that what a
run imports or builds lazily (the model clients, tokenizer tables, the graph's
modules) is loaded once in the fork server and shared by every worker it forks,
instead of costing each worker a second on its first pair.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

from agentlab.eval.checks import SandboxCodeRunner
from agentlab.eval.pairs import EvalSettings, Pair, PairRunner
from agentlab.eval.suite import NumericCheck, Task

log = logging.getLogger(__name__)


def warm_up() -> None:
    """Run a one-step calculator task on a replayed model; nothing is kept."""
    reply = {
        "steps": [{"id": "s1", "tool": "calculator", "args": {"expression": "1+1"}, "why": ""}],
        "answer": "${s1}",
    }
    task = Task(
        id="warm-up", prompt="What is 1+1?", tools=("calculator",), check=NumericCheck(value=2)
    )
    with tempfile.TemporaryDirectory(prefix="agentlab-warm-") as scratch:
        cassette = Path(scratch) / "cassette.jsonl"
        cassette.write_text(json.dumps({"reply": json.dumps(reply)}) + "\n")
        settings = EvalSettings(variants=("no-reflection",), out_dir=Path(scratch) / "out")
        runner = PairRunner("warm-up", settings, SandboxCodeRunner())
        runner.run(Pair(task, "no-reflection"), cassette=cassette)


try:
    warm_up()
except Exception:  # a cold worker is only slower: never stop an evaluation for this
    log.debug("eval worker warm-up failed", exc_info=True)
