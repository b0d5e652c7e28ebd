"""Eight processes writing memories to one SQLite store at once: nothing lost, nothing locked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agentlab.memory import AgentlabSqliteStore, LongTermMemory, MiniLMEmbeddings

HERE = Path(__file__).resolve().parent
WORKERS = 8
EACH = 25


@pytest.mark.slow
def test_eight_processes_write_to_one_store_without_losing_a_write(tmp_path: Path) -> None:
    path = tmp_path / "memory.sqlite"
    procs = [
        subprocess.Popen(
            [sys.executable, str(HERE / "memory_tools.py"), str(path), str(w), str(EACH)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(WORKERS)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert "locked" not in err
    store = AgentlabSqliteStore.open(path, embed=MiniLMEmbeddings())
    memory = LongTermMemory(store, user="shared")
    stored = memory.list(limit=10_000)
    assert len(stored) == WORKERS * EACH
    assert {m.source_run for m in stored} == {
        f"w{w}-{i}" for w in range(WORKERS) for i in range(EACH)
    }
    # Every process's vectors made it into the index too.
    assert store.indexed(memory.namespace) == WORKERS * EACH
    assert memory.get(stored[0].id) == stored[0]
    store.close()
