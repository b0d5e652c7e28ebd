"""The Postgres concurrency test's worker: one process storing memories through the same
path `agentlab run` takes (`open_store` with `AGENTLAB_DB` set)."""

from __future__ import annotations

import sys
from contextlib import ExitStack


def write_memories(worker: int, count: int) -> None:
    from agentlab.memory import LongTermMemory, MemoryKind, open_store

    with ExitStack() as stack:
        memory = LongTermMemory(open_store(stack), user="shared")
        for i in range(count):
            memory.remember(
                MemoryKind.FACT,
                f"User: my locker {worker}-{i} code is {worker * 1000 + i}.",
                subject=f"locker {worker}-{i} code",
                source_run=f"w{worker}-{i}",
            )


if __name__ == "__main__":
    write_memories(int(sys.argv[1]), int(sys.argv[2]))
