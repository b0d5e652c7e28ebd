"""Running one task to the end: stream the graph, survive every error, close the trace.

The CLI and the evaluation harness run tasks through `Runner`; embedding apps
may use the compiled graph directly.
"""

from __future__ import annotations

import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langgraph.checkpoint.base import BaseCheckpointSaver

from agentlab.config import AgentConfig
from agentlab.errors import AgentlabError
from agentlab.failures import FailureEvent
from agentlab.graph import ToolsArg, build_deps, compile_graph
from agentlab.nodes.base import AgentDeps
from agentlab.state import AgentState, Counters
from agentlab.trace import Tracer, TraceSink

EventHandler = Callable[[str, Any], None]
"""Receives `(stream_mode, chunk)` for every `updates` and `custom` chunk while a run goes."""


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

    @property
    def exit_code(self) -> int:
        """0 answered, 1 no answer (any other status)."""
        return 0 if self.status == "answered" else 1

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "answer": self.answer,
            "status_detail": self.status_detail,
            "trace": self.trace_path,
            "thread_id": self.thread_id,
            "counters": self.counters.model_dump(),
            "failures": [f.model_dump(mode="json") for f in self.failures],
        }


class Runner:
    """One compiled agent variant and the means to run tasks on it.

    `trace_dir` is a runs directory, or a `TraceSink` / `Tracer` to send events
    elsewhere (the evaluation harness wraps the sink to grade each run).
    """

    def __init__(
        self,
        config: AgentConfig | None = None,
        *,
        model: str | BaseChatModel | None = None,
        tools: ToolsArg = None,
        trace_dir: str | Path | TraceSink | Tracer | None = None,
        record: str | Path | None = None,
        checkpointer: BaseCheckpointSaver[str] | None = None,
    ) -> None:
        self.config = config or AgentConfig()
        self.deps: AgentDeps = build_deps(
            self.config, model=model, tools=tools, trace=trace_dir, record=record
        )
        self.checkpointer = checkpointer
        self.graph = compile_graph(self.deps, checkpointer=checkpointer)

    def run(
        self,
        task: str,
        *,
        task_id: str | None = None,
        thread_id: str | None = None,
        on_event: EventHandler | None = None,
    ) -> RunResult:
        """Run `task` to the end; errors become a status, never an exception."""
        run_id = uuid.uuid4().hex
        configurable: dict[str, Any] = {"run_id": run_id, "task_id": task_id}
        if thread_id is not None:
            configurable["thread_id"] = thread_id
        final: dict[str, Any] = {}
        try:
            for mode, chunk in self.graph.stream(
                {"task": task},
                {"configurable": configurable},
                stream_mode=["updates", "custom", "values"],
            ):
                if mode == "values":
                    final = chunk
                elif on_event is not None:
                    on_event(mode, chunk)
        except AgentlabError as exc:
            return self._crashed(run_id, thread_id, str(exc), final)
        except Exception as exc:
            detail = f"internal error: {type(exc).__name__}: {exc}"
            return self._crashed(run_id, thread_id, detail, final, traceback.format_exc())
        except KeyboardInterrupt:
            self._crashed(run_id, thread_id, "interrupted", final)
            raise
        return self._result(run_id, thread_id, final)

    def _result(
        self, run_id: str, thread_id: str | None, state: AgentState | dict[str, Any]
    ) -> RunResult:
        return RunResult(
            run_id=state.get("run_id", run_id),
            status=state.get("status", "error"),
            answer=state.get("answer"),
            status_detail=state.get("status_detail", ""),
            trace_path=self.deps.tracer.location(run_id),
            counters=state.get("counters") or Counters(),
            failures=list(state.get("failures") or []),
            thread_id=thread_id,
        )

    def _crashed(
        self,
        run_id: str,
        thread_id: str | None,
        detail: str,
        state: dict[str, Any],
        trace_text: str | None = None,
    ) -> RunResult:
        """Close the trace of a run the graph could not finish, keeping what it did."""
        tracer = self.deps.tracer
        if trace_text:
            tracer.emit(run_id, "error", detail=detail, traceback=trace_text)
        counters = state.get("counters") or Counters()
        tracer.emit(
            run_id,
            "footer",
            status="error",
            status_detail=detail,
            answer=None,
            counters=counters.model_dump(),
        )
        tracer.close(run_id)
        result = self._result(run_id, thread_id, state)
        result.status, result.status_detail, result.answer = "error", detail, None
        return result
