"""Baseline agents that agentlab is measured against, with the same model, tools and budgets.

- `react`: the standard tool loop, one model call per tool call, until the model answers.
- `direct`: the bare model, asked to reason step by step and answer, without tools.

Select one with `AgentConfig(architecture=...)` or the `react` / `direct` variants;
`build_agent` and `Runner` then compile it instead of agentlab's graph. Both take
the same input and give the same output state keys, and write the same trace
events and failure categories, so `agentlab eval` and `agentlab failures` treat
them as any other variant.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.store.base import BaseStore

from agentlab.baselines.common import BaselineState, Begin, End
from agentlab.baselines.direct import DirectAgent, DirectAnswer
from agentlab.baselines.react import ReactAgent, ReactStep, ReactTools
from agentlab.context import RunContext
from agentlab.errors import ConfigError
from agentlab.nodes.base import AgentDeps, Node
from agentlab.state import AgentInput, AgentState
from agentlab.tools.base import tool_is_declared
from agentlab.tools.registry import ToolRegistry

BaselineGraph = CompiledStateGraph[BaselineState, RunContext, AgentInput, AgentState]


def compile_baseline(
    deps: AgentDeps,
    *,
    checkpointer: BaseCheckpointSaver[str] | None = None,
    store: BaseStore | None = None,
    name: str | None = None,
) -> BaselineGraph:
    """The graph of `deps.config.architecture` (`react` or `direct`)."""
    architecture = deps.config.architecture
    nodes: tuple[Node, ...]
    if architecture == "react":
        nodes = (Begin(deps), ReactAgent(deps), ReactTools(deps), End(deps))
    elif architecture == "direct":
        # No tools to run: only declared functions (BFCL's), which it answers with as text;
        # the trace header names those, and nothing is released.
        declared = ToolRegistry(tool for tool in deps.tools if tool_is_declared(tool))
        bare = replace(deps, tools=declared)
        nodes = (Begin(bare), DirectAgent(bare), End(bare))
    else:
        raise ConfigError(f"{architecture!r} is not a baseline; use react or direct")
    builder = StateGraph(
        BaselineState, input_schema=AgentInput, output_schema=AgentState, context_schema=RunContext
    )
    for node in nodes:
        action: Any = node  # a callable object; LangGraph reads its __call__ annotations
        # The nodes are typed on AgentState; they must also see the scratchpad keys.
        builder.add_node(node.name, action, input_schema=BaselineState)
    builder.add_edge(START, Begin.name)
    return builder.compile(checkpointer=checkpointer, store=store, name=name or architecture)


__all__ = ["BaselineState", "DirectAnswer", "ReactStep", "compile_baseline"]
