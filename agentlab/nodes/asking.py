"""Asking the model for a structured reply, retrying malformed replies within budget."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from pydantic import BaseModel

from agentlab.budget import budget_exhausted
from agentlab.errors import ModelError
from agentlab.failures import FailureCategory, FailureEvent
from agentlab.llm.parsing import MalformedOutputError, parse_structured
from agentlab.nodes.base import AgentDeps
from agentlab.state import AgentState, Counters
from agentlab.stops import Errored, StopReason

T = TypeVar("T", bound=BaseModel)

RETRY_MALFORMED = (
    "That reply was not valid: {problem}. Reply again with only the JSON object, nothing else."
)


@dataclass
class Asked(Generic[T]):
    """The parsed reply (None when every attempt failed), what it cost, and what went wrong.

    `stop` is set when the run must end: a budget ran out, or the backend failed
    (its `model.*` failure is among `failures`).
    """

    value: T | None
    counters: Counters = field(default_factory=Counters)
    failures: list[FailureEvent] = field(default_factory=list)
    stop: StopReason | None = None


def ask_structured(
    deps: AgentDeps,
    state: AgentState,
    messages: list[BaseMessage],
    schema: type[T],
    *,
    node: str,
) -> Asked[T]:
    """Ask until the reply parses into `schema`, up to `1 + max_output_retries` attempts."""
    budgets = deps.config.budgets
    asked: Asked[T] = Asked(None)
    for _attempt in range(1 + budgets.max_output_retries):
        over = budget_exhausted(state, budgets, spent=asked.counters, llm_calls=1)
        if over is not None:
            asked.stop = over
            return asked
        try:
            reply = deps.caller.complete(
                messages, schema=schema, node=node, run_id=state.get("run_id", "unknown")
            )
        except ModelError as exc:
            asked.failures.append(deps.failure(state, exc.category, exc.message, node=node))
            asked.stop = Errored(detail=exc.message, category=exc.category)
            return asked
        asked.counters += Counters(
            llm_calls=1, tokens_in=reply.tokens_in, tokens_out=reply.tokens_out
        )
        try:
            asked.value = parse_structured(reply.text, schema)
            return asked
        except MalformedOutputError as exc:
            asked.failures.append(
                deps.failure(
                    state,
                    FailureCategory.PLANNING_MALFORMED_OUTPUT,
                    f"the {node}'s reply is not a valid {schema.__name__}: {exc.message}",
                    node=node,
                )
            )
            messages = [
                *messages,
                AIMessage(content=reply.text),
                HumanMessage(content=RETRY_MALFORMED.format(problem=exc.message)),
            ]
    return asked
