"""Running one task to the end: stream the graph, survive every error, close the trace.

The CLI and the evaluation harness run tasks through `Runner`; embedding apps
may use the compiled graph directly.
"""

from __future__ import annotations

import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.base import BaseStore
from langgraph.types import Command, StateSnapshot, StreamMode

from agentlab import lifecycle
from agentlab.approvals import ApprovalDecision, ApprovalRequest, Approver
from agentlab.citations import Citation, citations
from agentlab.config import AgentConfig
from agentlab.context import RunContext
from agentlab.effects import Effect
from agentlab.errors import AgentlabError, ConfigError
from agentlab.events import InternalError, Resumed
from agentlab.failures import FailureEvent
from agentlab.graph import ToolsArg, build_deps, compile_graph
from agentlab.guardrails.answers import structured_answer
from agentlab.llm.response_cache import ResponseCache
from agentlab.llm.structured import ChatModelLike
from agentlab.memory.backends import serializer
from agentlab.memory.settings import MemorySettings
from agentlab.nodes.base import AgentDeps
from agentlab.state import AgentState, Counters
from agentlab.stops import Errored, Interrupted, StopReason, describe, status_of
from agentlab.tools.base import tool_has_side_effects
from agentlab.trace import Tracer, TraceSink

WAITING = "waiting"
"""A run's status while it waits for a person to approve a write step (not a trace status:
the run has not ended)."""

EventHandler = Callable[[str, Any], None]
"""Receives `(stream_mode, chunk)` for every `updates` and `custom` chunk while a run goes
(and `messages` chunks, `(message_chunk, metadata)`, when the run streams tokens)."""


@dataclass
class RunResult:
    """How a run ended."""

    run_id: str
    status: str
    answer: str | None
    status_detail: str = ""
    trace_path: str | None = None
    counters: Counters = field(default_factory=Counters)
    failures: list[FailureEvent] = field(default_factory=list)
    thread_id: str | None = None
    stop: StopReason | None = None
    """Why the run stopped (None when it never began)."""
    citations: list[Citation] = field(default_factory=list)
    """The documents the answer rests on, from the run's own local search results
    (`agentlab.citations`); empty without an answer or a document search."""
    effects: list[Effect] = field(default_factory=list)
    """What the run's write actions changed."""
    structured: Any = None
    """The answer read as JSON, when `AgentConfig.answer_schema` was declared and it fits."""
    awaiting: ApprovalRequest | None = None
    """The write step the run waits on (status `waiting`): resume the thread with a decision."""

    @property
    def exit_code(self) -> int:
        """0 answered, 3 waiting for approval, 1 no answer (any other status)."""
        return 0 if self.status == "answered" else 3 if self.status == WAITING else 1

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "answer": self.answer,
            "status_detail": self.status_detail,
            "stop": self.stop.model_dump(mode="json") if self.stop is not None else None,
            "trace": self.trace_path,
            "thread_id": self.thread_id,
            "counters": self.counters.model_dump(),
            "failures": [f.model_dump(mode="json") for f in self.failures],
            "citations": [c.model_dump(mode="json") for c in self.citations],
            "effects": [e.model_dump(mode="json") for e in self.effects],
            "structured": self.structured,
            "awaiting": self.awaiting.model_dump(mode="json") if self.awaiting else None,
        }


class Runner:
    """One compiled agent variant and the means to run tasks on it.

    `trace_dir` is a runs directory, or a `TraceSink` / `Tracer` to send events
    elsewhere (the evaluation harness wraps the sink to grade each run).
    A runner owns what it opened (the tool threads, the cassette it records,
    the tools' per-run resources): `close()` releases them, or use it as a
    context manager.
    """

    def __init__(
        self,
        config: AgentConfig | None = None,
        *,
        model: str | ChatModelLike | None = None,
        tools: ToolsArg = None,
        trace_dir: str | Path | TraceSink | Tracer | None = None,
        record: str | Path | None = None,
        checkpointer: BaseCheckpointSaver[str] | None = None,
        store: BaseStore | None = None,
        memory: MemorySettings | None = None,
        response_cache: ResponseCache | None = None,
        approver: Approver | None = None,
    ) -> None:
        self.config = config or AgentConfig()
        self.approver = approver
        deps = build_deps(
            self.config,
            model=model,
            tools=tools,
            trace=trace_dir,
            record=record,
            response_cache=response_cache,
        )
        self.deps: AgentDeps = replace(deps, memory=memory) if memory is not None else deps
        if checkpointer is None and any(tool_has_side_effects(t) for t in self.deps.tools):
            # Asking for approval stops the run with interrupt(), which needs a checkpoint to
            # resume from; a runner without threads keeps it in memory.
            checkpointer = InMemorySaver(serde=serializer())
        self.checkpointer = checkpointer
        self.store = store
        self.graph = compile_graph(self.deps, checkpointer=checkpointer, store=store)
        self._closed = False

    def close(self) -> None:
        """Release the runner's resources: tool threads, the cassette file. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.deps.tool_pool.shutdown(wait=False, cancel_futures=True)
        if self.deps.caller.recorder is not None:
            self.deps.caller.recorder.close()

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def unfinished(self, thread_id: str) -> str | None:
        """The task of a run on `thread_id` that never finished (its process was killed), or None."""
        if self.checkpointer is None:
            return None
        snapshot = self.graph.get_state({"configurable": {"thread_id": thread_id}})
        if not snapshot.next:
            return None
        return str(snapshot.values.get("task") or "") or None

    def run(
        self,
        task: str | None,
        *,
        task_id: str | None = None,
        thread_id: str | None = None,
        user_id: str | None = None,
        on_event: EventHandler | None = None,
        stream_tokens: bool = False,
        decision: ApprovalDecision | None = None,
    ) -> RunResult:
        """Run `task` to the end; errors become a status, never an exception.

        With a checkpointer and a `thread_id`, the run continues the thread's
        conversation and is checkpointed after every step (durably, before the
        next step starts). When the thread holds a run that never finished and
        `task` is None or that run's task, that run resumes from its last
        completed step instead: finished tool calls are not made again.
        `user_id` selects whose long-term memories the run reads and writes.
        A write step that needs approval stops the run: the runner's `approver` answers,
        else `decision` (for a run that was waiting), else the run returns as `waiting` with
        the request in `awaiting`, and `run(None, thread_id=..., decision=...)` resumes it.
        With `stream_tokens`, model replies stream to `on_event` as they are generated
        (LangGraph's `messages` mode; backends that cannot stream send the whole reply).
        """
        run_id = uuid.uuid4().hex
        threaded = thread_id is not None and self.checkpointer is not None
        if thread_id is None and self.checkpointer is not None:
            thread_id = f"run-{run_id}"  # a run of its own: its checkpoints, for approvals
        config: RunnableConfig = {"configurable": {"thread_id": thread_id}} if thread_id else {}
        final: dict[str, Any] = {}
        awaiting: ApprovalRequest | None = None
        try:
            graph_input: Any = {"task": task}
            if threaded and (resumed := self._resume(thread_id, task)) is not None:
                graph_input, run_id, final = None, resumed["run_id"], resumed
                if (asked := self._asked(config)) is not None:
                    graph_input = self._answer(asked, decision, resumed.get("started_at"))
                    awaiting = asked if graph_input is None else None
            elif task is None:
                raise ConfigError(
                    f"thread {thread_id!r} has no unfinished run to resume; give a task"
                    if threaded
                    else "give a task to run"
                )
            context = RunContext(run_id=run_id, task_id=task_id, user_id=user_id)
            modes: list[StreamMode] = ["updates", "custom", "values"]
            if stream_tokens:
                modes.append("messages")
            while awaiting is None:
                for mode, chunk in self.graph.stream(
                    graph_input,
                    config,
                    context=context,
                    stream_mode=modes,
                    durability="sync" if threaded else None,
                ):
                    if mode == "values":
                        final = cast(dict[str, Any], chunk)
                    elif on_event is not None:
                        on_event(mode, chunk)
                asked = self._asked(config) if self.checkpointer is not None else None
                if asked is None:
                    break
                graph_input = self._answer(asked, None, final.get("started_at"))
                awaiting = asked if graph_input is None else None
        except AgentlabError as exc:
            return self._crashed(run_id, thread_id, Errored(detail=str(exc)), final)
        except Exception as exc:
            reason = Errored(detail=f"internal error: {type(exc).__name__}: {exc}")
            return self._crashed(run_id, thread_id, reason, final, traceback.format_exc())
        except KeyboardInterrupt:
            self._crashed(run_id, thread_id, Interrupted(), final)
            raise
        result = self._result(run_id, thread_id, final)
        if awaiting is not None:
            result.status, result.awaiting = WAITING, awaiting
            result.status_detail = (
                f"waiting for approval of step {awaiting.step_id} ({awaiting.tool})"
            )
        return result

    def _asked(self, config: RunnableConfig) -> ApprovalRequest | None:
        """The approval request the thread's run is stopped at, if it is."""
        snapshot = self.graph.get_state(config)
        for pending in snapshot.interrupts:
            return ApprovalRequest.model_validate(pending.value)
        return None

    def _answer(
        self, request: ApprovalRequest, decision: ApprovalDecision | None, started: float | None
    ) -> Command[Any] | None:
        """The input that resumes a run stopped at `request`: the approver's answer, else
        `decision`; None when neither can answer (the run stays waiting).

        The time spent deciding is not counted against the run's time budget: the run's
        start (`started`, already moved past the time it lay waiting) moves forward by it.
        The resuming `Command` carries the update, since a state update of its own would
        drop the pending interrupt.
        """
        asked_at = time.time()
        if self.approver is not None:
            decision = self.approver(request)
        if decision is None:
            return None
        waited = time.time() - asked_at
        update = {"started_at": started + waited} if started is not None else None
        return Command(resume=decision.model_dump(mode="json"), update=update)

    def _resume(self, thread_id: str | None, task: str | None) -> dict[str, Any] | None:
        """The state of the thread's unfinished run when it is to be resumed, else None.

        Notes the resumption in that run's trace: which steps had completed and
        which node runs next.
        """
        config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
        snapshot = self.graph.get_state(config)
        values = dict(snapshot.values)
        if not snapshot.next or (task is not None and task != values.get("task")):
            return None
        run_id = str(values.get("run_id") or uuid.uuid4().hex)
        results = values.get("results") or {}
        paused = self._discount_downtime(config, snapshot)
        self.deps.tracer.write(
            Resumed(
                run_id=run_id,
                thread_id=thread_id,
                next=list(snapshot.next),
                completed_steps=sorted(results),
                paused_s=round(paused, 3),
            )
        )
        if paused:
            values["started_at"] += paused
        return {**values, "run_id": run_id}

    def _discount_downtime(self, config: RunnableConfig, snapshot: StateSnapshot) -> float:
        """Move the run's start forward by the time since its last checkpoint, so the time
        budget and the footer's seconds count the time it ran, not the time it lay dead.

        The update is written as the pending node routing to itself: a plain state
        update would drop the pending `Command` route and end the run.
        """
        started = snapshot.values.get("started_at")
        if started is None or snapshot.created_at is None or len(snapshot.next) != 1:
            return 0.0
        if snapshot.interrupts:
            # A state update would drop the pending interrupt: the resuming Command carries
            # the shifted start instead (see `run`).
            return max(0.0, time.time() - datetime.fromisoformat(snapshot.created_at).timestamp())
        paused = time.time() - datetime.fromisoformat(snapshot.created_at).timestamp()
        if paused <= 0:
            return 0.0
        pending = snapshot.next[0]
        self.graph.update_state(
            config, Command(update={"started_at": started + paused}, goto=pending), as_node=pending
        )
        return paused

    def _result(
        self, run_id: str, thread_id: str | None, state: AgentState | dict[str, Any]
    ) -> RunResult:
        answer = state.get("answer")
        calls = (state.get("past_calls") or {}).values()
        return RunResult(
            run_id=state.get("run_id", run_id),
            status=state.get("status", "error"),
            answer=answer,
            status_detail=state.get("status_detail", ""),
            trace_path=self.deps.tracer.location(state.get("run_id", run_id)),
            counters=state.get("counters") or Counters(),
            failures=list(state.get("failures") or []),
            thread_id=thread_id,
            stop=state.get("stop"),
            citations=citations(calls, answer),
            effects=list(state.get("effects") or []),
            structured=structured_answer(answer, self.config.answer_schema),
        )

    def _crashed(
        self,
        run_id: str,
        thread_id: str | None,
        reason: StopReason,
        state: dict[str, Any],
        trace_text: str | None = None,
    ) -> RunResult:
        """End the trace of a run the graph could not finish, keeping what it did."""
        detail = describe(reason)
        tracer = self.deps.tracer
        if tracer.began(run_id) or state.get("run_id") == run_id:
            if trace_text:
                tracer.write(InternalError(run_id=run_id, detail=detail, traceback=trace_text))
            lifecycle.end(self.deps, {**state, "run_id": run_id}, reason)
        else:  # the run never began (no header): nothing to trace, only what it held
            lifecycle.release_tools(self.deps.tools, run_id)
        result = self._result(run_id, thread_id, state)
        result.status, result.status_detail, result.answer = status_of(reason), detail, None
        result.citations = []
        result.stop = reason
        return result
