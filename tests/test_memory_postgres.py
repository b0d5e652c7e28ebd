"""Threads and memories on a live PostgreSQL server (a throwaway cluster the tests start).

The SQLite versions of these tests are in test_memory_threads.py and
test_memory_concurrency.py; here the same runs go through `AGENTLAB_DB`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import psycopg
import pytest
from postgres_server import PostgresServer
from support import finish, of_type, plan, step, write_cassette
from test_memory_store import PAIRS, _kind
from test_memory_threads import CHAIN, _env, _wait_for, agentlab

from agentlab import AgentConfig
from agentlab.events import Resumed
from agentlab.memory import LongTermMemory, MemoryKind, open_backends, open_store
from agentlab.memory.postgres import connection_pool
from agentlab.memory.postgres_store import AgentlabPostgresStore
from agentlab.runner import Runner
from agentlab.trace import read_trace

HERE = Path(__file__).resolve().parent
WORKERS = 8
EACH = 25


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    yield server
    server.stop()


@pytest.fixture
def database(postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh database, set as AGENTLAB_DB for this process and the CLIs it starts."""
    url = postgres.database()
    monkeypatch.setenv("AGENTLAB_DB", url)
    return url


def _rows(url: str, sql: str, *params: object) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def test_a_killed_run_resumes_from_postgres_without_redoing_finished_steps(
    tmp_path: Path, database: str
) -> None:
    plan_only = write_cassette(tmp_path / "plan.jsonl", CHAIN)
    finish_only = write_cassette(tmp_path / "finish.jsonl", finish("a+b+c+"))
    log = tmp_path / "steps.log"
    args = ["run", "Chain three slow steps", "--thread", "k1", "--tool", "memory_tools:slow_step"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentlab", *args, "--model", f"replay:{plan_only}"],
        cwd=tmp_path,
        env=_env(tmp_path, AGENTLAB_TEST_STEP_LOG=str(log), AGENTLAB_DB=database),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # The third step starts only after the second step's checkpoint is in Postgres.
    _wait_for(log, "start a+b+c")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert _rows(database, "SELECT count(*) FROM checkpoints WHERE thread_id = 'k1'")[0][0] > 0

    done = agentlab(
        tmp_path,
        "run",
        "--thread",
        "k1",
        "--tool",
        "memory_tools:slow_step",
        "--model",
        f"replay:{finish_only}",
        "--json",
        AGENTLAB_TEST_STEP_LOG=str(log),
        AGENTLAB_DB=database,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["answer"] == "a+b+c+"
    events = read_trace(result["trace"])
    [resumed] = of_type(events, Resumed)
    assert resumed.completed_steps == ["s1", "s2"]
    # Steps 1 and 2 ran once, in the killed process; step 3 was cut off and ran again.
    lines = [line.split(" ", 1) for line in log.read_text().splitlines()]
    first_pid = lines[0][0]
    assert [(pid == first_pid, what) for pid, what in lines] == [
        (True, "start a"),
        (True, "end a"),
        (True, "start a+b"),
        (True, "end a+b"),
        (True, "start a+b+c"),
        (False, "start a+b+c"),
        (False, "end a+b+c"),
    ]
    assert not (tmp_path / "home" / "threads.sqlite").exists()
    assert not (tmp_path / "home" / "memory.sqlite").exists()
    again = agentlab(
        tmp_path, "run", "--thread", "k1", "--model", f"replay:{finish_only}", AGENTLAB_DB=database
    )
    assert again.returncode == 2
    assert "no unfinished run" in again.stderr


@pytest.mark.slow
def test_eight_processes_write_memories_to_postgres_without_losing_one(database: str) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, str(HERE / "postgres_writer.py"), str(w), str(EACH)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(WORKERS)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    with ExitStack() as stack:
        store = open_store(stack)
        assert isinstance(store, AgentlabPostgresStore)  # no pgvector on this server
        memory = LongTermMemory(store, user="shared")
        stored = memory.list(limit=10_000)
        assert len(stored) == WORKERS * EACH
        assert {m.source_run for m in stored} == {
            f"w{w}-{i}" for w in range(WORKERS) for i in range(EACH)
        }
        # Every write's vector is there too, and recall finds a memory by its meaning.
        vectors = _rows(database, "SELECT count(*) FROM agentlab_store_vectors")[0][0]
        assert vectors == WORKERS * EACH
        [found] = memory.search("User: my locker 5-7 code is 5007.", limit=1)
        assert found.memory.subject == "locker 5-7 code" and found.score == pytest.approx(1.0)


def test_runs_in_threads_share_one_connection_pool(tmp_path: Path, database: str) -> None:
    cassette = write_cassette(
        tmp_path / "c.jsonl", plan(step("s1", "calculator", expression="17*23+4")), finish("395")
    )
    config = AgentConfig(tools=("calculator",))
    answers: dict[str, str | None] = {}

    def one_run(thread_id: str) -> None:
        with open_backends(threads=True, memory=True) as backends:
            runner = Runner(
                config,
                model=f"replay:{cassette}",
                trace_dir=tmp_path / "runs",
                checkpointer=backends.checkpointer,
                store=backends.store,
            )
            answers[thread_id] = runner.run("What is 17*23+4?", thread_id=thread_id).answer

    threads = [threading.Thread(target=one_run, args=(f"t{i}",)) for i in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert answers == {f"t{i}": "395" for i in range(WORKERS)}
    checkpointed = _rows(database, "SELECT count(DISTINCT thread_id) FROM checkpoints")[0][0]
    assert checkpointed == WORKERS
    stats = connection_pool(database).get_stats()
    assert 1 < stats["pool_size"] <= 10  # more than one connection, within the cap


def _stored_pairs(memory: LongTermMemory) -> dict[str, str]:
    ids = {}
    for pair in PAIRS:
        stored = memory.remember(
            _kind(pair["memory"]), pair["memory"], subject=pair["id"], task=pair["id"]
        )
        ids[pair["id"]] = stored.memory.id
    return ids


def test_recall_from_postgres_ranks_as_the_sqlite_store_does(
    tmp_path: Path, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ExitStack() as stack:
        postgres = LongTermMemory(open_store(stack))
        monkeypatch.delenv("AGENTLAB_DB")
        sqlite = LongTermMemory(open_store(stack, tmp_path))
        pg_ids, sqlite_ids = _stored_pairs(postgres), _stored_pairs(sqlite)
        assert postgres.semantic and sqlite.semantic
        pg_pair = {memory_id: pair for pair, memory_id in pg_ids.items()}
        sqlite_pair = {memory_id: pair for pair, memory_id in sqlite_ids.items()}
        hits = 0
        for pair in PAIRS:
            from_pg = postgres.search(pair["query"], limit=3)
            from_sqlite = sqlite.search(pair["query"], limit=3)
            assert [pg_pair[r.memory.id] for r in from_pg] == [
                sqlite_pair[r.memory.id] for r in from_sqlite
            ]
            for ours, theirs in zip(from_pg, from_sqlite, strict=True):
                assert ours.score == pytest.approx(theirs.score, abs=1e-5)
            hits += pg_ids[pair["id"]] in [r.memory.id for r in from_pg]
        assert hits >= 45  # measured: 50, as on SQLite
        # Forgetting a memory deletes its vector with it.
        assert postgres.forget(pg_ids[PAIRS[0]["id"]])
    assert _rows(database, "SELECT count(*) FROM agentlab_store_vectors")[0][0] == 49


def test_a_fact_from_one_run_is_recalled_by_the_next_from_postgres(
    tmp_path: Path, database: str
) -> None:
    first = write_cassette(
        tmp_path / "first.jsonl",
        plan(step("s1", "calculator", expression="17*23+4")),
        finish("395"),
    )
    done = agentlab(
        tmp_path,
        "run",
        "My favourite colour is blue. What is 17*23+4?",
        "--model",
        f"replay:{first}",
        AGENTLAB_DB=database,
    )
    assert done.returncode == 0, done.stderr
    second = write_cassette(tmp_path / "second.jsonl", plan(), finish("blue"))
    record = tmp_path / "rec.jsonl"
    done = agentlab(
        tmp_path,
        "run",
        "Which colour do I like?",
        "--model",
        f"replay:{second}",
        "--record",
        str(record),
        AGENTLAB_DB=database,
    )
    assert done.returncode == 0, done.stderr
    planner = json.loads(record.read_text().splitlines()[0])
    prompt = planner["messages"][-1]["content"]
    assert "- fact: User: My favourite colour is blue." in prompt
    stored = _rows(database, "SELECT value->>'text' FROM store WHERE value->>'kind' = 'fact'")
    assert stored == [("User: My favourite colour is blue.",)]
    assert not (tmp_path / "home" / "memory.sqlite").exists()


def test_lexical_memory_on_postgres_is_ranked_by_words(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTLAB_EMBEDDER", "lexical")
    with ExitStack() as stack:
        store = open_store(stack)
        assert not isinstance(store, AgentlabPostgresStore) and store.index_config is None  # type: ignore[attr-defined]
        memory = LongTermMemory(store)
        memory.remember(MemoryKind.FACT, "User: I am allergic to peanuts.", subject="allergy")
        memory.remember(MemoryKind.FACT, "User: my favourite drink is tea.", subject="drink")
        [found] = memory.recall("peanuts allergy", k=1)
        assert found.memory.subject == "allergy"
