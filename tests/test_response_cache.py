"""The exact response cache: off by default, on for `agentlab eval --cache`, where re-running a
finished study makes no model call and grades alike; hits and misses in each footer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from langchain_core.messages import HumanMessage
from openai_fake import FakeOpenAI
from support import agentlab, of_type, plan, step

from agentlab.events import ModelCall
from agentlab.llm.response_cache import CachedReply, ResponseCache, request_key
from agentlab.trace import read_trace

SCRIPT = [
    (200, plan(step("s1", "calculator", expression="14*36-289"), answer="${s1}")),
    # A wrong answer (123): a failing verdict must come back the same too.
    (200, plan(step("s1", "calculator", expression="7*9+12*5"), answer="124")),
]


def env_for(fake: FakeOpenAI, home: Path) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    return env | {
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_KEY": "sk-test",
        "AGENTLAB_HOME": str(home),
        "COLUMNS": "200",
    }


def verdicts(out: Path) -> dict[str, tuple[str, str | None]]:
    """Task id → (verdict outcome, answer) of every trace in an eval output directory."""
    found: dict[str, tuple[str, str | None]] = {}
    for trace in out.glob("*.jsonl"):
        events = read_trace(trace)
        footer = events[-1]
        found[events[0].task_id] = (footer.verdict.outcome, footer.answer)
    return found


def footers(out: Path) -> list[dict[str, Any]]:
    return [read_trace(t)[-1] for t in sorted(out.glob("*.jsonl"))]


def test_eval_cache_reruns_a_finished_study_without_model_calls(serve: Any, tmp_path: Path) -> None:
    fake = serve(SCRIPT)
    env = env_for(fake, tmp_path / "home")
    args = ["eval", "math", "--limit", "2", "--model", "openai:m", "--cache"]
    first = agentlab(*args, "--out", str(tmp_path / "first"), cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert len(fake.requests) == 2  # one plan a task, each answering from its template
    assert verdicts(tmp_path / "first") == {"crates": ("pass", "215"), "cinema": ("fail", "124")}
    assert [f.cache for f in footers(tmp_path / "first")] == [{"hits": 0, "misses": 1}] * 2

    # The same study again (a new output directory, as after a grading fix): every reply
    # comes from the cache, the server sees nothing, the verdicts are the same.
    again = agentlab(*args, "--out", str(tmp_path / "again"), cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(fake.requests) == 2
    assert verdicts(tmp_path / "again") == verdicts(tmp_path / "first")
    assert [f.cache for f in footers(tmp_path / "again")] == [{"hits": 1, "misses": 0}] * 2
    for trace in (tmp_path / "again").glob("*.jsonl"):
        calls = of_type(read_trace(trace), ModelCall)
        assert calls and all(c.cached for c in calls)

    # Without --cache nothing is read from it (and footers say nothing about a cache).
    off = agentlab(*args[:-1], "--out", str(tmp_path / "off"), cwd=tmp_path, env=env)
    assert off.returncode == 0, off.stdout + off.stderr
    assert len(fake.requests) == 4
    assert all(f.cache is None for f in footers(tmp_path / "off"))


def test_the_key_covers_prompt_model_schema_and_settings(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "replies.sqlite")
    base: dict[str, Any] = {
        "identity": ["openai:m"],
        "messages": [HumanMessage("What is 2+2?")],
        "schema": {"title": "Plan"},
        "settings": {"max_tokens": 512, "structured": "auto"},
    }
    key = request_key(**base)
    cache.put(key, CachedReply("{}", 10, 2, "json_schema"))
    assert cache.get(key) == CachedReply("{}", 10, 2, "json_schema")
    changed = [
        {**base, "identity": ["openai:other"]},
        {**base, "messages": [HumanMessage("What is 2+3?")]},
        {**base, "schema": {"title": "Verdict"}},
        {**base, "settings": {"max_tokens": 256, "structured": "auto"}},
    ]
    assert all(cache.get(request_key(**other)) is None for other in changed)
    # A second connection (another process) reads what the first wrote.
    assert ResponseCache(tmp_path / "replies.sqlite").get(key) is not None
    assert json.loads(cache.get(key).text) == {}  # type: ignore[union-attr]
