"""Memory costs: recall latency at 1k, 10k and 100k memories; the checkpointer's cost per step.

Recall: an `AgentlabSqliteStore` file holds N memories of one user and agent.
Their vectors are real all-MiniLM-L6-v2 embeddings of 2,000 templated memory
texts, repeated with small noise beyond 2,000 (embedding 100k texts would take
the benchmark half an hour; search time does not depend on the values). Each
query is a real sentence, embedded as the recall node does. Reported per N:
recall p50 end to end (`LongTermMemory.recall`: embed the query, rank, load
the rows), its two parts, the one-off index load of a fresh process, and, where
`pysqlite3` is importable, LangGraph's stock `SqliteStore` (sqlite-vec scan) on
the same file for comparison.

Checkpointer: the agent on an 8-step chain with a replayed model, no
checkpointer against `SqliteSaver` on a file with `durability="sync"` (what
`agentlab run --thread` uses), interleaved in one process.

    .venv/bin/python benchmarks/memory.py [--sizes 1000,10000,100000] [--queries 50] [--rounds 20]
    .venv/bin/python benchmarks/memory.py --smoke    # 200 memories, 2 rounds: does it run?
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings
from langgraph.checkpoint.base import BaseCheckpointSaver
from smoke import add_smoke, check_traces

from agentlab import AgentConfig, build_agent
from agentlab.llm import ReplayChatModel
from agentlab.memory import (
    AgentlabSqliteStore,
    LongTermMemory,
    Memory,
    MemoryKind,
    MiniLMEmbeddings,
)
from agentlab.memory.sqlite_store import connect
from agentlab.tools.calculator import Calculator

BASE_TEXTS = 300
KINDS = [MemoryKind.FACT, MemoryKind.LESSON, MemoryKind.PLAN]
NOW = "2026-01-01T00:00:00+00:00"
NAMESPACE = ("memories", "bench", "agentlab")
SUBJECTS = ["drink", "city", "editor", "language", "team", "pet", "car", "hobby", "food", "band"]
QUERIES = [
    "What does the user like to drink?",
    "Which city does the user live in?",
    "How do I refer to an earlier step's result?",
    "Compute 3^7 minus 12",
    "What went wrong when dividing by zero?",
    "Which plan answered a percentage question?",
    "What editor does the user prefer?",
    "Find the prime factors of a large number",
    "What is the user's favourite football team?",
    "Convert Fahrenheit to Celsius",
]


def memory_text(i: int) -> str:
    kind = i % 3
    if kind == 0:
        return f"User: my favourite {SUBJECTS[i % 10]} is number {i}."
    if kind == 1:
        return (
            f"Lesson from the task 'What is {i}^2 + {i % 97}?': went wrong: "
            "execution.tool_error (step s1, tool calculator). What worked: "
            f's1 calculator(expression="{i}**2+{i % 97}").'
        )
    return (
        f"Plan that answered 'What is {i} * {i % 13 + 2} + 4?': s1 calculator(expression=\"{i}*"
        f'{i % 13 + 2}"); s2 calculator(expression="${{s1}}+4").'
    )


class TableEmbeddings(Embeddings):
    """Returns precomputed vectors for the benchmark's memory texts."""

    def __init__(self, table: dict[str, list[float]]) -> None:
        self.table = table

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.table[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.table[text]


def vectors_for(n: int, base: np.ndarray) -> np.ndarray:
    """The base embeddings, then distinct blends of two of them with a little noise."""
    rng = np.random.default_rng(n)
    extra = max(0, n - len(base))
    a, b = rng.integers(0, len(base), size=(2, extra))
    weight = rng.uniform(0.5, 1.0, size=(extra, 1))
    blends = weight * base[a] + (1 - weight) * base[b] + rng.normal(0, 0.01, (extra, base.shape[1]))
    rows = np.concatenate([base, blends])[:n]
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows.astype(np.float32)


def build_store(path: Path, n: int, base: np.ndarray) -> float:
    """Write n memories; returns seconds taken."""
    texts = [memory_text(i) for i in range(n)]
    table = dict(zip(texts, vectors_for(n, base).tolist(), strict=True))
    store = AgentlabSqliteStore.open(path, embed=TableEmbeddings(table))
    started = time.perf_counter()
    batch: list[Any] = []
    from langgraph.store.base import PutOp

    for i, text in enumerate(texts):
        value = Memory(
            id=f"m{i}", kind=KINDS[i % 3], text=text, created_at=NOW, updated_at=NOW
        ).value()
        batch.append(PutOp(NAMESPACE, f"m{i}", value, index=["text"]))
        if len(batch) == 1_000:
            store.batch(batch)
            batch = []
    if batch:
        store.batch(batch)
    seconds = time.perf_counter() - started
    store.close()
    return seconds


def p50(fn: Callable[[str], Any], queries: list[str]) -> float:
    times = []
    for query in queries:
        started = time.perf_counter()
        fn(query)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e3


def recall_figures(path: Path, n: int, queries: list[str]) -> dict[str, float]:
    embedder = MiniLMEmbeddings()
    embedder.encode(["warm up"])
    started = time.perf_counter()
    store = AgentlabSqliteStore(connect(path), embed=embedder)
    store.setup()
    assert store.indexed(NAMESPACE) == n
    load_s = time.perf_counter() - started
    memory = LongTermMemory(store, user="bench", agent="agentlab")
    figures = {"n": n, "index_load_s": load_s}
    figures["recall_ms"] = p50(memory.recall, queries)
    figures["embed_ms"] = p50(embedder.embed_query, queries)
    vectors = {q: np.asarray(embedder.embed_query(q), dtype=np.float32) for q in queries}
    index = store._vectors
    assert index is not None
    prefix = ".".join(NAMESPACE)
    figures["rank_ms"] = p50(lambda q: index.search(prefix, vectors[q], 3), queries)
    figures["agreement"] = exact_agreement(index, prefix, vectors)
    store.close()
    stock = stock_store_ms(path, queries, vectors)
    if stock is not None:
        figures["stock_search_ms"] = stock
    return figures


def exact_agreement(index: Any, prefix: str, vectors: dict[str, Any]) -> float:
    """Share of the exact top-3 (a full matrix product) that the index's search returns."""
    block = index._blocks[prefix]
    matrix = block.matrix[: len(block.keys)]
    found = total = 0
    for vector in vectors.values():
        exact = {block.keys[i] for i in np.argsort(-(matrix @ vector))[:3]}
        found += len(exact & {key for (_, key), _ in index.search(prefix, vector, 3)})
        total += 3
    return found / total


def stock_store_ms(path: Path, queries: list[str], vectors: dict[str, Any]) -> float | None:
    """LangGraph's SqliteStore (sqlite-vec) on the same file, query vectors precomputed."""
    try:
        import pysqlite3.dbapi2 as sqlite3  # type: ignore[import-not-found]
        from langgraph.store.sqlite import SqliteStore
    except ImportError:
        return None
    conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    table = {q: v.tolist() for q, v in vectors.items()}
    store = SqliteStore(conn, index={"dims": 384, "embed": TableEmbeddings(table)})  # type: ignore[arg-type, typeddict-item]
    store.setup()
    result = p50(lambda q: store.search(NAMESPACE, query=q, limit=3), queries[:10])
    conn.close()
    return result


def chain_plan(steps: int) -> str:
    plan = [{"id": "s1", "tool": "calculator", "args": {"expression": "1+1"}}]
    for i in range(2, steps + 1):
        plan.append(
            {"id": f"s{i}", "tool": "calculator", "args": {"expression": f"${{s{i - 1}}}+1"}}
        )
    return json.dumps({"steps": plan})


def agent_run(
    cassette: Path, runs: Path, saver: BaseCheckpointSaver[str] | None, thread: str
) -> float:
    graph = build_agent(
        AgentConfig(tools=("calculator",), memory=False),
        model=ReplayChatModel(path=str(cassette)),
        tools=[Calculator()],
        trace=runs,
        checkpointer=saver,
    )
    config = {"configurable": {"thread_id": thread}}
    started = time.perf_counter()
    state = graph.invoke({"task": "count up"}, config, durability="sync" if saver else None)
    elapsed = time.perf_counter() - started
    if state["status"] != "answered":
        raise SystemExit(f"run failed: {state['status_detail']}")
    return elapsed


def checkpointer_figures(root: Path, steps: int, rounds: int) -> dict[str, float]:
    from langgraph.checkpoint.sqlite import SqliteSaver

    from agentlab.memory.backends import serializer

    cassette = root / "chain.jsonl"
    replies = [
        chain_plan(steps),
        json.dumps({"decision": "finish", "answer": str(steps + 1), "critique": ""}),
    ]
    cassette.write_text("".join(json.dumps({"reply": r}) + "\n" for r in replies))
    conn = connect(root / "threads.sqlite")
    saver = SqliteSaver(conn, serde=serializer())
    saver.setup()
    agent_run(cassette, root / "runs", None, "warm")
    agent_run(cassette, root / "runs", saver, "warm")
    none, sqlite = [], []
    for i in range(rounds):
        none.append(agent_run(cassette, root / "runs", None, f"n{i}") / steps)
        sqlite.append(agent_run(cassette, root / "runs", saver, f"s{i}") / steps)
    conn.close()
    return {
        "steps": steps,
        "none_ms": statistics.median(none) * 1e3,
        "sqlite_ms": statistics.median(sqlite) * 1e3,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--steps", type=int, default=8)
    add_smoke(parser)
    args = parser.parse_args()
    base_texts = BASE_TEXTS
    if args.smoke:
        args.sizes, args.queries, args.rounds, args.steps, base_texts = "200", 5, 2, 2, 30
    sizes = [int(s) for s in args.sizes.split(",")]
    queries = [f"{q} ({i})" if i >= len(QUERIES) else q for i, q in enumerate(QUERIES * 10)]
    queries = queries[: args.queries]
    embedder = MiniLMEmbeddings()
    started = time.perf_counter()
    base = embedder.encode([memory_text(i) for i in range(base_texts)])
    print(f"embedded {base_texts} memory texts in {time.perf_counter() - started:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        print(
            "| memories | recall p50 | embed query p50 | rank p50 | top-3 = exact |"
            " stock SqliteStore p50 | index load | write |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for n in sizes:
            path = root / f"memory-{n}.sqlite"
            write_s = build_store(path, n, base)
            f = recall_figures(path, n, queries)
            stock = f"{f['stock_search_ms']:.1f} ms" if "stock_search_ms" in f else "n/a"
            print(
                f"| {n:,} | {f['recall_ms']:.2f} ms | {f['embed_ms']:.2f} ms | "
                f"{f['rank_ms']:.2f} ms | {f['agreement']:.0%} | {stock} | "
                f"{f['index_load_s']:.2f} s | "
                f"{write_s:.1f} s |",
                flush=True,
            )
        c = checkpointer_figures(root, args.steps, args.rounds)
        if args.smoke:
            check_traces(root / "runs")
    print()
    print(f"checkpointer, {c['steps']}-step chain, {args.rounds} rounds, median per step:")
    print(f"| none | {c['none_ms']:.2f} ms |")
    print(
        f"| SQLite (sync) | {c['sqlite_ms']:.2f} ms | +{c['sqlite_ms'] - c['none_ms']:.2f} ms, "
        f"{c['sqlite_ms'] / c['none_ms']:.2f}x |"
    )


if __name__ == "__main__":
    main()
