"""OpenTelemetry spans from the typed events: one span per node step, model call and tool
call, with parent/child links, failure categories and counters as attributes, and the
run's id shared with its JSONL trace."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from support import agentlab, of_type, plan, replan, step, write_cassette

from agentlab import AgentConfig, settings
from agentlab.events import Footer, Header, ModelCall, NodeStep, Resumed, ToolCall
from agentlab.failures import FailureEvent
from agentlab.otel import FAILURE_CATEGORIES, RUN_ID, SpanRecorder
from agentlab.runner import Runner
from agentlab.stops import Errored
from agentlab.trace import JsonlTraceSink, Tracer, read_trace

KIND = "openinference.span.kind"


@pytest.fixture
def exported() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def _run_with_a_tool_error(tmp_path: Path, tracer: Tracer) -> str:
    """A plan whose step fails (1/0), a reflector that sends it back, a plan that answers."""
    cassette = write_cassette(
        tmp_path / "cassette.jsonl",
        plan(step("s1", "calculator", expression="1/0"), answer="${s1}"),
        replan("division by zero; compute 6*7 instead", wrong=["s1"]),
        plan(step("s1", "calculator", expression="6*7"), answer="${s1}"),
    )
    with Runner(
        AgentConfig(memory=False),
        model=f"replay:{cassette}",
        tools=["calculator"],
        trace_dir=tracer,
    ) as runner:
        result = runner.run("What is 6*7?")
    assert (result.status, result.answer) == ("answered", "42")
    return result.run_id


def test_spans_mirror_the_trace_run_node_model_and_tool(
    tmp_path: Path, exported: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, exporter = exported
    sink = JsonlTraceSink(tmp_path / "runs")
    with provider.get_tracer("app").start_as_current_span("request") as request:
        run_id = _run_with_a_tool_error(tmp_path, Tracer(sink, observers=[SpanRecorder(provider)]))
    events = read_trace(sink.path(run_id))
    spans = [s for s in exporter.get_finished_spans() if s.name != "request"]
    by_kind: dict[str, list[ReadableSpan]] = {}
    for span in spans:
        by_kind.setdefault(str((span.attributes or {})[KIND]), []).append(span)

    # One span per node step, model call and tool call, in the trace's order.
    (run,) = by_kind["AGENT"]
    nodes, models, tools = by_kind["CHAIN"], by_kind["LLM"], by_kind["TOOL"]
    assert [s.name for s in nodes] == [e.node for e in of_type(events, NodeStep)]
    assert [s.name for s in nodes] == [
        *("recall", "planner", "validator", "executor", "joiner", "reflector"),
        *("planner", "validator", "executor", "joiner", "finalizer", "remember"),
    ]
    assert len(models) == len(of_type(events, ModelCall)) == 3
    assert [s.attributes["tool.parameters"] for s in tools if s.attributes] == [
        json.dumps(c.args) for c in of_type(events, ToolCall)
    ]

    # Parent/child: request → run → node → model call / tool call, all one trace.
    ids = {s.context.span_id: s for s in spans}
    assert run.parent is not None and run.parent.span_id == request.get_span_context().span_id
    assert all(n.parent is not None and n.parent.span_id == run.context.span_id for n in nodes)
    assert [ids[m.parent.span_id].name for m in models if m.parent] == [
        "planner",
        "reflector",
        "planner",
    ]
    assert [ids[t.parent.span_id].name for t in tools if t.parent] == ["executor", "executor"]
    assert {s.context.trace_id for s in spans} == {request.get_span_context().trace_id}
    for span in spans:  # within its parent's time
        if span.parent is not None and span.parent.span_id in ids:
            parent = ids[span.parent.span_id]
            assert parent.start_time <= span.start_time <= span.end_time <= parent.end_time

    # The run id of the JSONL trace is on every span.
    assert of_type(events, Header)[0].run_id == run_id == sink.path(run_id).stem
    assert {(s.attributes or {})[RUN_ID] for s in spans} == {run_id}

    # Failure categories: on the tool call that failed, its node and the run; counters too.
    recorded = [(f.node, f.step_id, str(f.category)) for f in of_type(events, FailureEvent)]
    assert recorded == [
        ("executor", "s1", "planning.wrong_argument_values"),  # 1/0: a tool error from a value
    ]
    failed, answered = tools
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes is not None
    assert failed.attributes[FAILURE_CATEGORIES] == ("planning.wrong_argument_values",)
    assert answered.status.status_code is StatusCode.UNSET
    assert answered.attributes is not None and FAILURE_CATEGORIES not in answered.attributes
    with_failures = {
        n.name: (n.attributes or {})[FAILURE_CATEGORIES]
        for n in nodes
        if FAILURE_CATEGORIES in (n.attributes or {})
    }
    assert with_failures == {"executor": ("planning.wrong_argument_values",)}
    joins = [
        [(e.attributes or {}).get("agentlab.join.decision") for e in n.events if e.name == "join"]
        for n in nodes
        if n.name == "joiner"
    ]
    assert joins == [["reflect"], ["answer"]]
    executor = next(n for n in nodes if n.name == "executor")
    assert [(e.name, (e.attributes or {})["agentlab.step_id"]) for e in executor.events] == [
        ("failure", "s1")
    ]
    assert run.attributes is not None
    assert run.attributes["agentlab.failures.planning.wrong_argument_values"] == 1
    assert run.attributes[FAILURE_CATEGORIES] == ("planning.wrong_argument_values",)
    assert run.attributes["agentlab.status"] == "answered"
    assert run.attributes["agentlab.counters.llm_calls"] == 3
    assert run.attributes["agentlab.counters.tool_calls"] == 2
    assert run.attributes["agentlab.counters.replans"] == 1
    assert run.attributes["output.value"] == "42"
    planner = models[0].attributes or {}
    assert planner["llm.model_name"].startswith("replay:")  # type: ignore[union-attr]
    assert planner["llm.input_messages.0.message.role"] == "system"


def test_a_secret_in_an_event_is_redacted_in_its_span(
    tmp_path: Path,
    exported: tuple[TracerProvider, InMemorySpanExporter],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    provider, exporter = exported
    monkeypatch.setenv("SERVICE_API_KEY", "sk-live-abcdefghijklmnop1234")
    cassette = write_cassette(
        tmp_path / "cassette.jsonl",
        plan(
            step("s1", "calculator", expression="6*7"), answer="${s1} sk-live-abcdefghijklmnop1234"
        ),
    )
    tracer = Tracer(JsonlTraceSink(tmp_path / "runs"), observers=[SpanRecorder(provider)])
    with Runner(
        AgentConfig(memory=False),
        model=f"replay:{cassette}",
        tools=["calculator"],
        trace_dir=tracer,
    ) as runner:
        runner.run("What is 6*7?")
    exported_text = json.dumps([dict(s.attributes or {}) for s in exporter.get_finished_spans()])
    assert "6*7" in exported_text
    assert "sk-live-abcdefghijklmnop1234" not in exported_text


def test_exporters_come_from_the_standard_variables() -> None:
    assert settings.span_exporters({}) == ()
    assert settings.span_exporters({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318"}) == ("otlp",)
    assert settings.span_exporters({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://x"}) == ("otlp",)
    assert settings.span_exporters({"OTEL_TRACES_EXPORTER": "console"}) == ("console",)
    assert settings.span_exporters({"OTEL_TRACES_EXPORTER": "otlp,console"}) == ("otlp", "console")
    off = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_SDK_DISABLED": "true"}
    assert settings.span_exporters(off) == ()
    assert (
        settings.span_exporters({**off, "OTEL_SDK_DISABLED": "", "OTEL_TRACES_EXPORTER": "none"})
        == ()
    )


class _Collector(BaseHTTPRequestHandler):
    """A loopback OTLP/HTTP collector: keeps each export request's spans."""

    received: list[ExportTraceServiceRequest]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        self.server.received.append(request)  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def collector() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_agentlab_run_exports_over_otlp_when_the_endpoint_is_set(
    tmp_path: Path, collector: ThreadingHTTPServer
) -> None:
    cassette = write_cassette(
        tmp_path / "cassette.jsonl",
        plan(step("s1", "calculator", expression="6*7"), answer="${s1}"),
    )
    endpoint = f"http://127.0.0.1:{collector.server_address[1]}"
    env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "COLUMNS": "200"}
    done = agentlab(
        "run", "What is 6*7?", "--model", f"replay:{cassette}", "--no-memory", cwd=tmp_path, env=env
    )
    assert done.returncode == 0, done.stderr
    spans = [
        span
        for request in collector.received  # type: ignore[attr-defined]
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
    names = [span.name for span in spans]
    assert names.count("agentlab") == 1 and "planner" in names and "calculator" in names
    run_ids = {a.value.string_value for span in spans for a in span.attributes if a.key == RUN_ID}
    (trace_file,) = (tmp_path / "agentlab-home" / "runs").glob("*.jsonl")
    assert run_ids == {trace_file.stem}
    services = {
        a.value.string_value
        for request in collector.received  # type: ignore[attr-defined]
        for resource in request.resource_spans
        for a in resource.resource.attributes
        if a.key == "service.name"
    }
    assert services == {"agentlab"}


def test_console_exporter_writes_spans_to_stderr(tmp_path: Path) -> None:
    cassette = write_cassette(
        tmp_path / "cassette.jsonl",
        plan(step("s1", "calculator", expression="6*7"), answer="${s1}"),
    )
    env = {**os.environ, "OTEL_TRACES_EXPORTER": "console", "COLUMNS": "200"}
    done = agentlab(
        "run",
        "What is 6*7?",
        "--model",
        f"replay:{cassette}",
        "--no-memory",
        "--json",
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["answer"] == "42"  # stdout stays the command's own
    assert '"name": "calculator"' in done.stderr and RUN_ID in done.stderr


def test_without_the_extra_the_run_says_so_once_and_keeps_its_trace(tmp_path: Path) -> None:
    cassette = write_cassette(
        tmp_path / "cassette.jsonl",
        plan(step("s1", "calculator", expression="6*7"), answer="${s1}"),
    )
    # A folder on the path that shadows the extra's package, as a core install lacks it.
    blocker = tmp_path / "no-otel" / "opentelemetry"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('not installed')\n")
    env = {
        **os.environ,
        "OTEL_TRACES_EXPORTER": "console",
        "PYTHONPATH": os.pathsep.join([str(blocker.parent), os.environ.get("PYTHONPATH", "")]),
    }
    done = agentlab(
        "run", "What is 6*7?", "--model", f"replay:{cassette}", "--no-memory", cwd=tmp_path, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("pip install 'agentlab[otel]'") == 1
    assert len(list((tmp_path / "agentlab-home" / "runs").glob("*.jsonl"))) == 1


def _spans(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {s.name: s for s in exporter.get_finished_spans()}


def test_a_run_resumed_elsewhere_and_a_node_cut_short_still_nest(
    exported: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = exported
    recorder = SpanRecorder(provider)
    # Resumed in this process: no header; the executor's tool call ran, then the run crashed
    # before the executor's node event.
    recorder.observe(Resumed(run_id="r1", next=["executor"], completed_steps=["s1"]))
    recorder.observe(
        ToolCall(
            run_id="r1",
            step_id="s2",
            tool="calculator",
            args={"expression": "1+1"},
            status="ok",
            output="2",
            started=1_000.0,
            ended=1_000.5,
            duration_s=0.5,
        )
    )
    recorder.observe(
        Footer(
            run_id="r1",
            status="error",
            stop=Errored(detail="internal error: boom"),
            status_detail="internal error: boom",
        )
    )
    spans = _spans(exporter)
    run, tool = spans["agentlab"], spans["calculator"]
    assert run.attributes is not None and run.attributes["agentlab.resumed"] is True
    assert run.status.status_code is StatusCode.ERROR
    assert [e.name for e in run.events] == ["resumed"]
    assert tool.parent is not None and tool.parent.span_id == run.context.span_id


def test_runs_that_never_end_are_closed_past_the_bound(
    exported: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = exported
    recorder = SpanRecorder(provider, max_open_runs=2)
    for run_id in ("a", "b", "c"):
        recorder.observe(
            Header(run_id=run_id, task="t", variant="full", config={}, model="m", tools=[])
        )
    (closed,) = exporter.get_finished_spans()
    assert closed.attributes is not None
    assert (closed.attributes[RUN_ID], closed.attributes["agentlab.incomplete"]) == ("a", True)
