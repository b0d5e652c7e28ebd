"""The agent on a LangGraph server: the graph factory `langgraph.json` names, and its config.

`langgraph dev` (the in-memory runtime of `langgraph-cli[inmem]`, the `[serve]` extra)
or `agentlab serve` loads `make_graph`. The server hands the graph its own checkpointer
and store, so threads and long-term memory live in the server; the graph keeps writing
its JSONL traces under `AGENTLAB_HOME/runs`. Input is `{"task": ...}` or chat-style
`{"messages": [...]}` (the last human message is the task); the answer comes back as
an AI message in `messages` beside agentlab's own fields (`answer`, `status`, ...).
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from langchain_core.runnables import RunnableConfig

from agentlab import settings
from agentlab.config import AgentConfig
from agentlab.graph import AgentGraph, build_deps, compile_graph
from agentlab.llm.spec import default_model_spec
from agentlab.nodes.base import AgentDeps

GRAPH_ID = "agent"
"""The graph's id on the server (the assistant id clients run)."""

LANGGRAPH_CONFIG: dict[str, Any] = {
    "$schema": "https://langgra.ph/schema.json",
    "dependencies": ["."],
    "graphs": {GRAPH_ID: "agentlab.serve:make_graph"},
    # agentlab's state holds only msgpack-serialisable types: never unpickle a checkpoint.
    "checkpointer": {"serde": {"pickle_fallback": False}},
}
"""What `langgraph.json` at the repository's root holds (`agentlab serve` writes the same)."""


async def make_graph(config: RunnableConfig) -> AgentGraph:
    """The graph factory: the agent for `AGENTLAB_MODEL` (else the default model), with the
    variant an assistant's `configurable.variant` names (`full` when none).

    The server calls it for every run; the model, the tools and the tracer are built once
    per model and variant and shared (a replay cassette goes on where the last run
    stopped). Building reads files, so it runs off the server's event loop.
    """
    variant = (config.get("configurable") or {}).get("variant")
    return await asyncio.to_thread(served_graph, str(variant) if variant else None)


def served_graph(variant: str | None = None) -> AgentGraph:
    """The graph `make_graph` returns, compiled without a checkpointer or store (the server
    attaches its own)."""
    model = default_model_spec()
    return compile_graph(_deps(model, variant, str(settings.home())))


@functools.cache
def _deps(model: str, variant: str | None, home: str) -> AgentDeps:
    # Keyed by the settings it reads, so a changed environment gets fresh dependencies.
    config = AgentConfig(model=model)
    if variant:
        config = config.with_variant(variant)
    return build_deps(config, model=model, trace=settings.runs_dir())
