"""recall: begins a run (fresh run id, per-run state reset, trace header) and fetches memories."""

from __future__ import annotations

import functools
import importlib.metadata
import platform
import time
import uuid
from typing import Any, Literal

from langchain_core.messages import HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.types import Command, Overwrite

from agentlab.errors import ConfigError
from agentlab.nodes.base import Node, traced_node
from agentlab.state import AgentState, Counters

RUN_ID_KEY = "run_id"
TASK_ID_KEY = "task_id"


@functools.cache
def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in ("agentlab", "langgraph", "langchain-core"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


class Recall(Node):
    name = "recall"

    @traced_node
    def __call__(self, state: AgentState, config: RunnableConfig) -> Command[Literal["planner"]]:
        task = (state.get("task") or "").strip()
        if not task:
            raise ConfigError('invoke the agent with a task: graph.invoke({"task": "..."})')
        configurable: dict[str, Any] = dict(config.get("configurable") or {})
        run_id = str(configurable.get(RUN_ID_KEY) or uuid.uuid4().hex)
        task_id = configurable.get(TASK_ID_KEY)
        deps = self.deps
        deps.tracer.emit(
            run_id,
            "header",
            task=task,
            task_id=task_id,
            variant=deps.config.variant,
            config=deps.config.model_dump(mode="json"),
            model=deps.caller.name,
            tools=deps.tools.names(),
            thread_id=configurable.get("thread_id"),
            versions=dict(_versions()),
        )
        # A new run on a thread starts from clean per-run fields; the messages
        # (the conversation) carry over.
        update: dict[str, Any] = {
            "task": task,
            "task_id": task_id,
            "run_id": run_id,
            "started_at": time.time(),
            "messages": [HumanMessage(content=task)],
            "memories": [],
            "plan": None,
            "plan_version": 0,
            "results": Overwrite({}),
            "past_calls": Overwrite({}),
            "reflections": Overwrite([]),
            "findings": [],
            "failures": Overwrite([]),
            "counters": Overwrite(Counters()),
            "answer": None,
            "status": "running",
            "status_detail": "",
        }
        return Command(update=update, goto="planner")
