"""Asking the model for a structured reply, retrying malformed replies within budget."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from pydantic import BaseModel

from agentlab.budget import budget_exhausted
from agentlab.errors import ModelError
from agentlab.failures import FailureCategory, FailureEvent
from agentlab.llm.caller import Decoding
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
    spent: Counters | None = None,
    sampling: float | None = None,
    seed: int = 0,
) -> Asked[T]:
    """Ask until the reply parses into `schema`, up to `1 + max_output_retries` attempts.

    `spent` is what the node already used (for the budget checks). `sampling` asks for a
    sampled reply at that temperature (seeded by `seed`) instead of the greedy one. A reply
    cut off at its token limit is `model.output_truncated`, never parsed as if complete:
    code is asked again with twice the room (up to `output_tokens_cap`; not when the reply
    already filled the cap or ended in a loop: greedy, or sampled with the same seed, it
    would be the same reply); a plan or verdict,
    whose room is ample, is asked again for a shorter reply (a small model that fills it
    is repeating itself).
    """
    config = deps.config
    budgets = config.budgets
    asked: Asked[T] = Asked(None)
    room = config.output_tokens()
    for _attempt in range(1 + budgets.max_output_retries):
        used = (spent or Counters()) + asked.counters
        over = budget_exhausted(state, budgets, spent=used, llm_calls=1)
        if over is not None:
            asked.stop = over
            return asked
        try:
            reply = deps.caller.complete(
                messages,
                schema=schema,
                node=node,
                run_id=state.get("run_id", "unknown"),
                decoding=Decoding(max_tokens=room, temperature=sampling, seed=seed),
            )
        except ModelError as exc:
            asked.failures.append(deps.failure(state, exc.category, exc.message, node=node))
            asked.stop = Errored(detail=exc.message, category=exc.category)
            return asked
        asked.counters += Counters(
            llm_calls=1, tokens_in=reply.tokens_in, tokens_out=reply.tokens_out
        )
        if reply.truncated:
            # Code can need more room than a plan: it is asked again with twice as much,
            # unless decoding would almost surely write the same reply again: it
            # already had the most room, or it ended in a loop (the bare model's HumanEval
            # replies that run into thousands of newlines: asked again with twice the room,
            # 5 of the 6 seen looped to the end again). A plan or verdict that fills its room is a
            # model repeating itself: asked again for a shorter reply.
            code = deps.delivers_code(state)
            more = min(room * 2, max(config.output_tokens_cap, room))
            # A sampled request is asked again with the same seed: the same draw, too.
            futile = more == room or repeats_itself(reply.text)
            then = "not asked again" if code and futile else "asked again"
            asked.failures.append(
                deps.failure(
                    state,
                    FailureCategory.MODEL_OUTPUT_TRUNCATED,
                    TRUNCATED.format(node=node, tokens=reply.tokens_out, room=room, then=then),
                    node=node,
                )
            )
            if code:
                if futile:
                    return asked
                room = more
            else:
                messages = [
                    *messages,
                    AIMessage(content=reply.text[:200]),
                    HumanMessage(content=RETRY_TRUNCATED.format(room=room)),
                ]
            continue
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


TRUNCATED = (
    "the {node}'s reply was cut off at its limit of {room} tokens ({tokens} generated); {then}"
)
LOOP_CHARS = 240
"""How much of a cut-off reply's end `repeats_itself` reads."""


def repeats_itself(text: str, *, longest: int = 16) -> bool:
    """Whether `text` ends in a loop: its last `LOOP_CHARS` characters are one pattern of at
    most `longest` characters over and over (newlines, a fence and a newline, `0, `)."""
    tail = text[-LOOP_CHARS:]
    if len(tail) < LOOP_CHARS:
        return False
    return any(tail[:-period] == tail[period:] for period in range(1, longest + 1))


RETRY_TRUNCATED = (
    "That reply was cut off at {room} tokens before the JSON ended. Reply again with a much "
    "shorter JSON object: no long numbers, no repeated text."
)


@dataclass
class Sampled(Generic[T]):
    """Several `ask_structured` rounds for one node (candidate plans): the values that
    parsed, in order, and what all of them cost."""

    values: list[T] = field(default_factory=list)
    counters: Counters = field(default_factory=Counters)
    failures: list[FailureEvent] = field(default_factory=list)
    stop: StopReason | None = None

    def add(self, asked: Asked[T]) -> None:
        if asked.value is not None:
            self.values.append(asked.value)
        self.counters += asked.counters
        self.failures += asked.failures
        self.stop = self.stop or asked.stop
