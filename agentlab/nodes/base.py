"""What every node shares: its dependencies, failure events, and tracing of each step."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.types import Command, Overwrite

from agentlab.code_examples import delivers_code
from agentlab.config import AgentConfig
from agentlab.events import NodeStep, PlanMade, Reflected
from agentlab.failures import FailureCategory, FailureEvent
from agentlab.llm.caller import ModelCaller
from agentlab.memory.settings import MemorySettings
from agentlab.schemas import Plan
from agentlab.state import AgentState, Counters
from agentlab.tools.registry import ToolRegistry
from agentlab.trace import Tracer


@dataclass(frozen=True)
class AgentDeps:
    """What the nodes of one compiled agent share: built once by `build_agent`."""

    config: AgentConfig
    caller: ModelCaller
    tools: ToolRegistry
    """The agent's inventory: the tools the validator and executor accept."""
    tracer: Tracer
    system_prompt: str
    tool_pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(
            max_workers=16, thread_name_prefix="agentlab-tool"
        )
    )
    """Threads that run tool calls; a call past its timeout keeps its thread until it returns."""
    memory: MemorySettings = field(default_factory=MemorySettings)
    """How recall and remember use the store the graph was compiled with."""

    def failure(
        self,
        state: AgentState,
        category: FailureCategory,
        detail: str,
        *,
        node: str,
        step_id: str | None = None,
        tool: str | None = None,
        args: dict[str, Any] | None = None,
        item: int | None = None,
    ) -> FailureEvent:
        return FailureEvent(
            category=category,
            detail=detail,
            node=node,
            step_id=step_id,
            tool=tool,
            args=args,
            item=item,
            run_id=state.get("run_id"),
            task_id=state.get("task_id"),
            variant=self.config.variant,
        )

    def tool(self, name: str) -> BaseTool | None:
        return self.tools.get(name) if name in self.tools else None

    def delivers_code(self, state: AgentState) -> bool:
        """Whether this run's answer is code (`code_examples.delivers_code`)."""
        return delivers_code(self.config.deliverable, state.get("task") or "", self.tools.names())


class Node:
    """A graph node; subclasses implement `__call__` decorated with `traced_node`."""

    name: str = ""

    def __init__(self, deps: AgentDeps) -> None:
        self.deps = deps

    def plans_made(self, state: AgentState, update: dict[str, Any], run_id: str) -> list[PlanMade]:
        """The `plan` events of a step of this node (none when it made no plan).

        By default, when the update sets `plan_version`: each candidate plan of a round
        of several, else the update's `plan` (a planner's whole plan); a node whose plan takes another form (a tool loop's
        action, a tool-less answer's calls) says so.
        """
        if "plan_version" not in update:  # no new plan (or round of candidates) was made
            return []
        version = update["plan_version"]
        if candidates := update.get("candidates"):
            return [
                PlanMade(run_id=run_id, node=self.name, version=version, plan=plan, candidate=k)
                for k, plan in enumerate(candidates, 1)
            ]
        plan = update.get("plan")
        if not isinstance(plan, Plan):
            return []
        return [PlanMade(run_id=run_id, node=self.name, version=version, plan=plan)]


N = TypeVar("N", bound=Node)
NodeMethod = Callable[[N, AgentState, RunnableConfig], Command[Any]]


def _node_step(
    node: str, run_id: str, update: dict[str, Any], seconds: float, goto: Any
) -> NodeStep:
    results = update.get("results")
    counters = update.get("counters")
    status = update.get("status")
    return NodeStep(
        run_id=run_id,
        node=node,
        duration_s=round(seconds, 6),
        goto=_goto(goto),
        steps=sorted(results) if isinstance(results, dict) else [],
        findings=list(update.get("findings") or []),
        status=status if isinstance(status, str) else None,
        answer=update.get("answer") if isinstance(update.get("answer"), str) else None,
        counters=counters.model_dump(exclude_defaults=True)
        if isinstance(counters, Counters)
        else {},
    )


def _listed(value: Any) -> list[Any]:
    """A list update's items, whether appended or written with `Overwrite`."""
    value = value.value if isinstance(value, Overwrite) else value
    return list(value) if isinstance(value, list) else []


def _goto(goto: Any) -> str | list[str] | None:
    if isinstance(goto, str):
        return goto
    if isinstance(goto, list | tuple):
        return [g if isinstance(g, str) else str(getattr(g, "node", g)) for g in goto]
    return None


def traced_node(method: NodeMethod[N]) -> NodeMethod[N]:
    """Trace a node step: its failure events, then one `node` event with duration and routing.

    `functools.wraps` keeps the `Command[Literal[...]]` return annotation, from
    which LangGraph draws the node's outgoing edges.
    """

    @functools.wraps(method)
    def wrapper(self: N, state: AgentState, config: RunnableConfig) -> Command[Any]:
        started = time.perf_counter()
        command = method(self, state, config)
        trace_node_step(self, state, command, time.perf_counter() - started)
        return command

    return wrapper


def trace_node_step(node: Node, state: AgentState, command: Command[Any], seconds: float) -> None:
    """Write a node step's failure events, the plan or reflection it made, then its `node` event."""
    update = command.update if isinstance(command.update, dict) else {}
    run_id = update.get("run_id") or state.get("run_id") or "unknown"
    tracer = node.deps.tracer
    for event in _listed(update.get("failures")):
        tracer.failure(event)
    for made in node.plans_made(state, update, run_id):
        tracer.write(made)
    for reflection in _listed(update.get("reflections")):
        tracer.write(Reflected(run_id=run_id, node=node.name, reflection=reflection))
    tracer.write(_node_step(node.name, run_id, update, seconds, command.goto))
