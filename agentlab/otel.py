"""OpenTelemetry spans from a run's typed events: run → node → model call / tool call.

The JSONL trace stays the record (`agentlab failures` reads it); spans are a view of
the same events for a team's observability stack, and every span carries the run's id
(`agentlab.run_id`). A `Tracer` shows each event to a `SpanRecorder` once it is
redacted, so a span holds no more than the trace line does. Span kinds and attribute
names follow OpenInference (`openinference.span.kind`, `llm.*`, `tool.*`,
`input.value`, ...); agentlab's own are under `agentlab.*`: failure categories, counters,
status and stop. Needs the `[otel]` extra.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import opentelemetry.trace as trace
from openinference.semconv.trace import (
    MessageAttributes,
    OpenInferenceMimeTypeValues,
    OpenInferenceSpanKindValues,
    SpanAttributes,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
)
from opentelemetry.trace import Span, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from agentlab import __version__, settings
from agentlab.events import (
    Event,
    Footer,
    Graded,
    Header,
    InternalError,
    Joined,
    ModelCall,
    NodeStep,
)
from agentlab.events import ToolCall as ToolCallEvent
from agentlab.failures import FailureEvent

RUN_ID = "agentlab.run_id"
"""On every span: the run's id, which names its JSONL trace."""
FAILURE_CATEGORIES = "agentlab.failure.categories"
"""The failure categories recorded on a span's part of the run (sorted, each once)."""
KIND = SpanAttributes.OPENINFERENCE_SPAN_KIND

Attributes = dict[str, AttributeValue]


def _ns(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1e9)


def _seconds_ns(seconds: float) -> int:
    return int(seconds * 1e9)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


@dataclass
class _OpenRun:
    """A run whose footer has not come: its span and the events of the node in progress."""

    span: Span
    start: int
    """When its span started (ns): its nodes' spans start no earlier."""
    pending: list[Event | FailureEvent] = field(default_factory=list)


class SpanRecorder:
    """Turns the typed events a `Tracer` writes into OpenTelemetry spans (an `EventObserver`).

    Events are written once their part is over (a node's `node` event when it has
    finished, a model call's when it returned), so spans are made with the times the
    events carry: a run's span opens at its header and ends at its footer; a node's
    model calls, tool calls and failures wait for its `node` event, then its span and
    theirs are made with their own start and end times. A run's span is a child of the
    span current where its header was written (an app's request, a server's run).
    """

    def __init__(
        self, tracer_provider: trace.TracerProvider | None = None, *, max_open_runs: int = 256
    ) -> None:
        provider = tracer_provider or trace.get_tracer_provider()
        self._tracer = provider.get_tracer("agentlab", __version__)
        self._runs: OrderedDict[str, _OpenRun] = OrderedDict()
        self._max_open_runs = max_open_runs
        self._lock = threading.Lock()

    def observe(self, event: Event | FailureEvent) -> None:
        """Record one event (thread-safe)."""
        with self._lock:
            if isinstance(event, Header):
                self._begin(event)
            elif isinstance(event, NodeStep):
                self._node(event)
            elif isinstance(event, Footer):
                self._end(event)
            elif isinstance(event, InternalError | Graded):
                self._run(event).span.add_event(event.type, {"detail": _detail(event)})
            else:
                self._run(event).pending.append(event)

    def _begin(self, header: Header) -> None:
        attributes: Attributes = {
            RUN_ID: header.run_id,
            KIND: OpenInferenceSpanKindValues.AGENT.value,
            SpanAttributes.AGENT_NAME: header.architecture,
            SpanAttributes.INPUT_VALUE: header.task,
            SpanAttributes.INPUT_MIME_TYPE: OpenInferenceMimeTypeValues.TEXT.value,
            "agentlab.variant": header.variant,
            "agentlab.model": header.model,
            "agentlab.tools": header.tools,
        }
        if header.thread_id:
            attributes[SpanAttributes.SESSION_ID] = header.thread_id
        if header.task_id:
            attributes["agentlab.task_id"] = header.task_id
        start = _ns(header.time)
        span = self._tracer.start_span(header.architecture, attributes=attributes, start_time=start)
        self._open(header.run_id, span, start)

    def _run(self, event: Event | FailureEvent) -> _OpenRun:
        """The run's open span; a run resumed in another process opens one at its first event."""
        run_id = event.run_id or "unknown"
        run = self._runs.get(run_id)
        if run is None:
            attributes: Attributes = {RUN_ID: run_id, "agentlab.resumed": True}
            attributes[KIND] = OpenInferenceSpanKindValues.AGENT.value
            start = _ns(event.time)
            span = self._tracer.start_span("agentlab", attributes=attributes, start_time=start)
            run = self._open(run_id, span, start)
        return run

    def _open(self, run_id: str, span: Span, start: int) -> _OpenRun:
        run = self._runs[run_id] = _OpenRun(span, start)
        while len(self._runs) > self._max_open_runs:  # runs that never ended (a crashed server)
            _, stale = self._runs.popitem(last=False)
            stale.span.set_attribute("agentlab.incomplete", True)
            stale.span.end()
        return run

    def _node(self, step: NodeStep) -> None:
        run = self._run(step)
        events, run.pending = run.pending, []
        end = _ns(step.time)
        failures = [e for e in events if isinstance(e, FailureEvent)]
        attributes: Attributes = {
            RUN_ID: step.run_id,
            KIND: OpenInferenceSpanKindValues.CHAIN.value,
            SpanAttributes.GRAPH_NODE_ID: step.node,
            **_counters("agentlab.counters", step.counters),
        }
        if step.goto is not None:
            attributes["agentlab.goto"] = [step.goto] if isinstance(step.goto, str) else step.goto
        if step.steps:
            attributes["agentlab.steps"] = step.steps
        if step.status is not None:
            attributes["agentlab.status"] = step.status
        if step.answer is not None:
            attributes[SpanAttributes.OUTPUT_VALUE] = step.answer
        if failures:
            attributes[FAILURE_CATEGORIES] = _categories(failures)
        # The node's event is written after its own calls' events, a little after it ended:
        # its span is widened to hold its calls and kept inside its run's.
        start = min([end - _seconds_ns(step.duration_s), *map(_start_of, events)])
        span = self._tracer.start_span(
            step.node,
            context=trace.set_span_in_context(run.span),
            attributes=attributes,
            start_time=max(start, run.start),
        )
        self._children(span, events, failures)
        span.end(end_time=end)

    def _children(
        self, parent: Span, events: Sequence[Event | FailureEvent], failures: list[FailureEvent]
    ) -> None:
        """The spans of a node's model and tool calls, and its other events as span events."""
        context = trace.set_span_in_context(parent)
        for event in events:
            if isinstance(event, ModelCall):
                self._model_call(event, context)
            elif isinstance(event, ToolCallEvent):
                mine = [f for f in failures if f.step_id == event.step_id]
                self._tool_call(event, mine, context)
            elif isinstance(event, FailureEvent):
                parent.add_event("failure", _failure_attributes(event), _ns(event.time))
            elif isinstance(event, Joined):
                joined: Attributes = {"agentlab.join.decision": event.decision}
                joined["agentlab.join.reason"] = event.reason
                parent.add_event(event.type, joined, _ns(event.time))
            else:  # plans, reflections, recall, memory: named by their trace type
                name = str(getattr(event, "type", type(event).__name__))
                parent.add_event(name, {RUN_ID: event.run_id}, _ns(event.time))

    def _model_call(self, call: ModelCall, context: Any) -> None:
        end = _ns(call.time)
        attributes: Attributes = {
            RUN_ID: call.run_id,
            KIND: OpenInferenceSpanKindValues.LLM.value,
            SpanAttributes.LLM_MODEL_NAME: call.model,
            SpanAttributes.LLM_TOKEN_COUNT_PROMPT: call.tokens_in,
            SpanAttributes.LLM_TOKEN_COUNT_COMPLETION: call.tokens_out,
            SpanAttributes.LLM_TOKEN_COUNT_TOTAL: call.tokens_in + call.tokens_out,
            SpanAttributes.OUTPUT_VALUE: call.reply,
            SpanAttributes.OUTPUT_MIME_TYPE: OpenInferenceMimeTypeValues.TEXT.value,
            f"{SpanAttributes.LLM_OUTPUT_MESSAGES}.0.{MessageAttributes.MESSAGE_ROLE}": "assistant",
            f"{SpanAttributes.LLM_OUTPUT_MESSAGES}.0.{MessageAttributes.MESSAGE_CONTENT}": call.reply,
            "agentlab.node": call.node,
            "agentlab.cached": call.cached,
            "agentlab.tokens_estimated": call.tokens_estimated,
        }
        attributes.update(_messages(call.messages))
        if call.finish_reason is not None:
            attributes[SpanAttributes.LLM_FINISH_REASON] = call.finish_reason
        if call.structured is not None:
            attributes["agentlab.structured"] = call.structured
        span = self._tracer.start_span(
            "model_call",
            context=context,
            attributes=attributes,
            start_time=end - _seconds_ns(call.latency_s),
        )
        span.end(end_time=end)

    def _tool_call(self, call: ToolCallEvent, failures: list[FailureEvent], context: Any) -> None:
        arguments = json.dumps(call.args, ensure_ascii=False, default=str)
        attributes: Attributes = {
            RUN_ID: call.run_id,
            KIND: OpenInferenceSpanKindValues.TOOL.value,
            SpanAttributes.TOOL_NAME: call.tool,
            SpanAttributes.TOOL_PARAMETERS: arguments,
            SpanAttributes.INPUT_VALUE: arguments,
            SpanAttributes.INPUT_MIME_TYPE: OpenInferenceMimeTypeValues.JSON.value,
            SpanAttributes.OUTPUT_VALUE: call.output,
            "agentlab.step_id": call.step_id,
            "agentlab.status": call.status,
            "agentlab.reused": call.reused,
        }
        if failures:
            attributes[FAILURE_CATEGORIES] = _categories(failures)
        span = self._tracer.start_span(
            call.tool,
            context=context,
            attributes=attributes,
            start_time=_seconds_ns(call.started),
        )
        if call.status == "error":
            span.set_status(Status(StatusCode.ERROR, call.output[:500]))
        span.end(end_time=_seconds_ns(call.ended))

    def _end(self, footer: Footer) -> None:
        self._run(footer)  # opened here when nothing of the run came before in this process
        run = self._runs.pop(footer.run_id)
        if run.pending:  # calls of a node that never finished (the run crashed inside it)
            failures = [e for e in run.pending if isinstance(e, FailureEvent)]
            self._children(run.span, run.pending, failures)
        span = run.span
        span.set_attributes(
            {
                "agentlab.status": footer.status,
                "agentlab.stop": footer.stop.kind,
                "agentlab.seconds": footer.seconds,
                **_counters("agentlab.counters", footer.counters.model_dump()),
                **{f"agentlab.failures.{c}": n for c, n in footer.failures.items()},
            }
        )
        if footer.failures:
            span.set_attribute(FAILURE_CATEGORIES, sorted(footer.failures))
        if footer.answer is not None:
            span.set_attribute(SpanAttributes.OUTPUT_VALUE, footer.answer)
        if footer.status == "error":
            span.set_status(Status(StatusCode.ERROR, footer.status_detail[:500]))
        span.end(end_time=_ns(footer.time))


def _start_of(event: Event | FailureEvent) -> int:
    """When the span an event becomes starts (ns)."""
    if isinstance(event, ModelCall):
        return _ns(event.time) - _seconds_ns(event.latency_s)
    if isinstance(event, ToolCallEvent):
        return _seconds_ns(event.started)
    return _ns(event.time)


def _counters(prefix: str, counters: Mapping[str, int]) -> Attributes:
    return {f"{prefix}.{name}": value for name, value in counters.items()}


def _categories(failures: Iterable[FailureEvent]) -> list[str]:
    return sorted({str(f.category) for f in failures})


def _failure_attributes(failure: FailureEvent) -> Attributes:
    attributes: Attributes = {
        "agentlab.failure.category": str(failure.category),
        "agentlab.failure.detail": failure.detail,
    }
    if failure.step_id is not None:
        attributes["agentlab.step_id"] = failure.step_id
    if failure.tool is not None:
        attributes[SpanAttributes.TOOL_NAME] = failure.tool
    return attributes


def _messages(messages: Sequence[Mapping[str, Any]]) -> Attributes:
    """A request's messages as OpenInference's flattened `llm.input_messages.N.message.*`."""
    attributes: Attributes = {}
    for index, message in enumerate(messages):
        prefix = f"{SpanAttributes.LLM_INPUT_MESSAGES}.{index}"
        attributes[f"{prefix}.{MessageAttributes.MESSAGE_ROLE}"] = str(message.get("role", ""))
        attributes[f"{prefix}.{MessageAttributes.MESSAGE_CONTENT}"] = _text(
            message.get("content", "")
        )
    return attributes


def _detail(event: InternalError | Graded) -> str:
    return event.detail if isinstance(event, InternalError) else event.outcome


@functools.cache
def environment_recorder() -> SpanRecorder:
    """The process's recorder for the exporters the environment asks for
    (`settings.span_exporters`): on the app's own SDK tracer provider when it set one,
    else on agentlab's (OTLP over HTTP, batched; the console exporter writes to stderr)."""
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return SpanRecorder(current)
    named = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": "agentlab"}
    provider = TracerProvider(resource=Resource.create(named))
    for exporter in settings.span_exporters():
        if exporter == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        else:
            provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=sys.stderr)))
    return SpanRecorder(provider)
