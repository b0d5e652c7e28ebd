"""`build_agent`: one graph builder compiles every variant, so ablations differ in one switch."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeAlias, cast

from langchain_core.tools import BaseTool
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.store.base import BaseStore

from agentlab.baselines import compile_baseline
from agentlab.config import AgentConfig, resolve_inventory
from agentlab.context import RunContext
from agentlab.errors import ConfigError
from agentlab.llm.caller import ModelCaller
from agentlab.llm.recording import CassetteRecorder
from agentlab.llm.response_cache import ResponseCache
from agentlab.llm.spec import resolve_model
from agentlab.llm.structured import ChatModelLike
from agentlab.nodes import (
    AgentDeps,
    Approval,
    Executor,
    Finalizer,
    Joiner,
    Planner,
    Recall,
    Reflector,
    Remember,
    Validator,
)
from agentlab.prompts import system_prompt
from agentlab.state import AgentInput, AgentState
from agentlab.tools.registry import ToolRegistry, builtin_tool, default_registry
from agentlab.trace import Tracer, TraceSink

ToolsArg: TypeAlias = ToolRegistry | Iterable[BaseTool | str] | None
AgentGraph: TypeAlias = CompiledStateGraph[AgentState, RunContext, AgentInput, AgentState]
"""A compiled agent: input `{"task": ...}`, run-scoped values as `context=RunContext(...)`."""


def _registry(tools: ToolsArg, config: AgentConfig) -> ToolRegistry:
    # Built-in tools named here are made for this config (e.g. its search backend).
    if tools is None:
        return default_registry(config=config)
    if isinstance(tools, ToolRegistry):
        return tools
    return ToolRegistry(builtin_tool(t, config) if isinstance(t, str) else t for t in tools)


def _tracer(trace: Tracer | TraceSink | str | Path | None) -> Tracer:
    if isinstance(trace, Tracer):
        return trace
    if trace is None or isinstance(trace, str | Path):
        from agentlab.trace import JsonlTraceSink

        return Tracer(JsonlTraceSink(trace))
    return Tracer(trace)


def build_deps(
    config: AgentConfig,
    *,
    model: str | ChatModelLike | None = None,
    tools: ToolsArg = None,
    trace: Tracer | TraceSink | str | Path | None = None,
    record: str | Path | None = None,
    response_cache: ResponseCache | None = None,
) -> AgentDeps:
    """Resolve the model, the tool inventory and the trace sink a graph's nodes share."""
    registry = _registry(tools, config)
    inventory = registry.subset(resolve_inventory(config, registry.names()))
    resolved = resolve_model(
        model if model is not None else config.model,
        max_retries=config.model_max_retries,
        timeout_s=config.model_timeout_s,
    )
    tracer = _tracer(trace)
    recorder = CassetteRecorder(record) if record is not None else None
    caller = ModelCaller(
        resolved.model,
        name=resolved.spec,
        tracer=tracer,
        recorder=recorder,
        max_tokens=config.max_output_tokens,
        structured=resolved.structured or config.structured_output,
        cache=response_cache,
    )
    return AgentDeps(
        config=config,
        caller=caller,
        tools=inventory,
        tracer=tracer,
        system_prompt=system_prompt(inventory, control_flow=config.plan_control_flow),
    )


def compile_graph(
    deps: AgentDeps,
    *,
    checkpointer: BaseCheckpointSaver[str] | None = None,
    store: BaseStore | None = None,
    name: str = "agentlab",
) -> AgentGraph:
    """Wire the nodes; each node's return annotation supplies its outgoing edges.

    A config whose `architecture` is a baseline (`react`, `direct`) compiles that
    baseline's graph instead (`agentlab.baselines`), with the same input and output.
    """
    if deps.config.architecture != "agentlab":
        baseline = compile_baseline(deps, checkpointer=checkpointer, store=store, name=name)
        return cast(AgentGraph, baseline)
    builder = StateGraph(AgentState, input_schema=AgentInput, context_schema=RunContext)
    nodes = (Recall, Planner, Validator, Executor, Approval, Joiner, Reflector, Finalizer, Remember)
    for node in nodes:
        action: Any = node(deps)  # a callable object; LangGraph reads its __call__ annotations
        builder.add_node(node.name, action)
    builder.add_edge(START, Recall.name)
    return builder.compile(checkpointer=checkpointer, store=store, name=name)


def build_agent(
    config: AgentConfig | None = None,
    *,
    model: str | ChatModelLike | None = None,
    tools: ToolsArg = None,
    trace: Tracer | TraceSink | str | Path | None = None,
    record: str | Path | None = None,
    checkpointer: BaseCheckpointSaver[str] | None = None,
    store: BaseStore | None = None,
    name: str = "agentlab",
) -> AgentGraph:
    """A compiled LangGraph graph for one agent variant.

    Args:
        config: the switches; `AgentConfig()` when omitted. `architecture="react"` or
            `"direct"` (the `react` / `direct` variants) builds a baseline instead.
        model: a model spec (`openai:MODEL`, `local:NAME`, `replay:PATH`, `PROVIDER:MODEL`)
            or any langchain-core chat model (also wrapped by `with_retry` /
            `with_fallbacks`); `config.model` or the default when omitted.
        tools: tool objects or built-in tool names; every built-in tool when omitted.
            `config.tools` / `config.without_tools` select the inventory from these.
        trace: a `Tracer`, a `TraceSink`, or a runs directory; `AGENTLAB_HOME/runs` by default.
        record: write every model exchange to this cassette file.
        checkpointer: LangGraph checkpointer for threads and resumable runs.
        store: LangGraph store for long-term memory.

    Invoke it with `{"task": "..."}`; `context=RunContext(run_id=..., task_id=..., user_id=...)`
    fixes the ids written into the trace and whose memories the run uses.
    """
    config = config or AgentConfig()
    if not isinstance(config, AgentConfig):
        raise ConfigError(f"config must be an AgentConfig, not {type(config).__name__}")
    deps = build_deps(config, model=model, tools=tools, trace=trace, record=record)
    return compile_graph(deps, checkpointer=checkpointer, store=store, name=name)
