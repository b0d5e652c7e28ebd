"""Test helpers run in subprocesses: a slow custom tool, and a memory writer.

Importable by the CLI under test with PYTHONPATH=tests and `--tool memory_tools:slow_step`.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from langchain_core.tools import tool

SLOW_S = 0.6
LOG_ENV = "AGENTLAB_TEST_STEP_LOG"


def _log(line: str) -> None:
    path = os.environ.get(LOG_ENV)
    if path:
        with Path(path).open("a", encoding="utf-8") as handle:
            handle.write(f"{os.getpid()} {line}\n")


@tool
def slow_step(text: str) -> str:
    """Wait a moment, then return the text with a '+' appended."""
    _log(f"start {text}")
    time.sleep(SLOW_S)
    _log(f"end {text}")
    return text + "+"


def write_memories(path: str, worker: int, count: int) -> None:
    """Store `count` distinct facts from one process (the concurrency test's worker)."""
    from agentlab.memory import AgentlabSqliteStore, LongTermMemory, MemoryKind, MiniLMEmbeddings

    store = AgentlabSqliteStore.open(path, embed=MiniLMEmbeddings())
    memory = LongTermMemory(store, user="shared")
    for i in range(count):
        memory.remember(
            MemoryKind.FACT,
            f"User: my locker {worker}-{i} code is {worker * 1000 + i}.",
            subject=f"locker {worker}-{i} code",
            source_run=f"w{worker}-{i}",
        )
    store.close()


if __name__ == "__main__":
    write_memories(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
