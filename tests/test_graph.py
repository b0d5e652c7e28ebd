"""The compiled graph as an embedding app uses it: invoke, ainvoke, stream, checkpointer, subgraph."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any, TypedDict

import pytest
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from support import finish, of_type, plan, replan, step, write_cassette

from agentlab import AgentConfig, Budgets, build_agent
from agentlab.events import ToolCall
from agentlab.llm import ReplayChatModel
from agentlab.trace import MemoryTraceSink, Tracer

SLEEP_S = 1.0


@tool
def slow_echo(text: str) -> str:
    """Wait a second, then return the text."""
    time.sleep(SLEEP_S)
    return text


@tool
def shout(text: str) -> str:
    """Upper-case the text."""
    return text.upper()


def replay(tmp_path: Path, *replies: str) -> ReplayChatModel:
    return ReplayChatModel(path=str(write_cassette(tmp_path / "cassette.jsonl", *replies)))


def agent(tmp_path: Path, model: ReplayChatModel, **config: Any) -> tuple[Any, MemoryTraceSink]:
    sink = MemoryTraceSink()
    graph = build_agent(
        AgentConfig(**config),
        model=model,
        tools=[slow_echo, shout, "calculator"],
        trace=Tracer(sink),
    )
    return graph, sink


def _time(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def test_independent_steps_overlap_and_references_substitute(tmp_path: Path) -> None:
    model = replay(
        tmp_path,
        plan(
            step("s1", "slow_echo", text="left"),
            step("s2", "slow_echo", text="right"),
            step("s3", "shout", text="${s1} and ${s2}"),
        ),
        finish("LEFT AND RIGHT"),
    )
    graph, sink = agent(tmp_path, model)
    state = graph.invoke({"task": "echo both, then shout"})
    assert state["status"] == "answered"
    calls = {e.step_id: e for e in of_type(sink.events, ToolCall)}
    s1, s2 = calls["s1"], calls["s2"]
    # Overlap: each started before the other ended.
    assert s1.started < s2.ended and s2.started < s1.ended
    assert max(s1.ended, s2.ended) - min(s1.started, s2.started) < 2 * SLEEP_S
    assert calls["s3"].args == {"text": "left and right"}
    assert calls["s3"].output == "LEFT AND RIGHT"
    assert calls["s3"].started >= max(s1.ended, s2.ended)
    # Wall-clock order of trace lines agrees with the recorded times.
    assert _time(calls["s3"].time) >= _time(s1.time)
    model.assert_complete()


def test_steps_of_a_tool_that_shares_state_run_in_plan_order(tmp_path: Path) -> None:
    # The Python session is one interpreter per run: side by side, a later step's `def`
    # could land before an earlier one's.
    from agentlab.tools import AgentTool

    session: list[str] = []

    class Session(AgentTool):
        name: str = "session"
        description: str = "Run a statement in the run's session."
        shares_state: bool = True

        def _run(self, text: str, **_: Any) -> str:
            time.sleep(0.3 if text == "first" else 0.0)  # the first is the slow one
            session.append(text)
            return ",".join(session)

    model = replay(
        tmp_path,
        plan(
            step("s1", "session", text="first"),
            step("s2", "session", text="second"),
            step("s3", "slow_echo", text="beside"),
            answer="${s2}",
        ),
    )
    sink = MemoryTraceSink()
    graph = build_agent(
        AgentConfig(), model=model, tools=[Session(), slow_echo], trace=Tracer(sink)
    )
    state = graph.invoke({"task": "two statements"})
    assert session == ["first", "second"] and state["answer"] == "first,second"
    calls = {e.step_id: e for e in of_type(sink.events, ToolCall)}
    assert calls["s2"].started >= calls["s1"].ended
    # Other tools still run beside them.
    assert calls["s3"].started < calls["s1"].ended


def test_failed_step_skips_dependents_and_reports_the_error(tmp_path: Path) -> None:
    model = replay(
        tmp_path,
        plan(
            step("s1", "calculator", expression="1/0"),
            step("s2", "calculator", expression="${s1}+1"),
            step("s3", "calculator", expression="2+2"),
        ),
        finish("4"),
    )
    graph, _sink = agent(tmp_path, model)
    state = graph.invoke({"task": "t"})
    results = state["results"]
    assert results["s1"].status == "error" and "division by zero" in results["s1"].output
    assert results["s2"].status == "skipped"
    assert results["s3"].output == "4"
    categories = [f.category for f in state["failures"]]
    assert categories == ["planning.wrong_argument_values"]
    reflector_prompt = model.calls[1][-1].content
    assert "ERROR: calculator failed: division by zero" in reflector_prompt
    assert "SKIPPED" in reflector_prompt


def test_repeated_identical_call_in_one_plan_is_detected_and_reused(tmp_path: Path) -> None:
    model = replay(
        tmp_path,
        plan(
            step("s1", "calculator", expression="6*7"),
            step("s2", "calculator", expression="6*7"),
            answer="${s2}",
        ),
    )
    graph, sink = agent(tmp_path, model)
    state = graph.invoke({"task": "t"})
    assert [f.category for f in state["failures"]] == ["efficiency.repeated_action"]
    assert state["answer"] == "42"
    assert len([e for e in of_type(sink.events, ToolCall) if not e.reused]) == 1


def test_a_later_plan_reuses_a_right_result_without_calling_again(tmp_path: Path) -> None:
    model = replay(
        tmp_path,
        plan(step("s1", "calculator", expression="6*7")),  # no answer yet: plan again
        plan(step("s1", "calculator", expression="6*7"), answer="${s1}"),
    )
    # Without a reflector, a plan without an answer goes straight back to the planner.
    graph, sink = agent(tmp_path, model, reflection="never")
    state = graph.invoke({"task": "t"})
    assert state["failures"] == [] and state["answer"] == "42"
    calls = of_type(sink.events, ToolCall)
    assert [c.reused for c in calls] == [False, True]


def test_a_call_judged_wrong_is_refused_before_it_runs(tmp_path: Path) -> None:
    model = replay(
        tmp_path,
        plan(step("s1", "calculator", expression="6*8"), answer="${s1}"),
        replan("6*8 is not the product asked for", wrong=["s1"]),
        plan(step("s1", "calculator", expression="6*8"), answer="${s1}"),
        plan(step("s1", "calculator", expression="6*7"), answer="${s1}"),
        finish("42"),
    )
    graph, sink = agent(tmp_path, model, reflection="always")
    state = graph.invoke({"task": "What is six times seven?"})
    assert state["answer"] == "42"
    repeated = [f for f in state["failures"] if f.category == "efficiency.repeated_action"]
    assert [(f.node, f.step_id) for f in repeated] == [("validator", "s1")]
    assert "judged wrong" in repeated[0].detail
    # The repeat never ran: two calls, 6*8 then 6*7.
    assert [c.args["expression"] for c in of_type(sink.events, ToolCall)] == ["6*8", "6*7"]
    replanning_prompt = model.calls[2][-1].content
    assert "judged these results wrong" in replanning_prompt and "6*8" in replanning_prompt
    model.assert_complete()


def test_tool_timeout_becomes_a_result_and_event(tmp_path: Path) -> None:
    @tool
    def stuck(text: str) -> str:
        """Never returns in time."""
        time.sleep(3)
        return text

    stuck.metadata = {"timeout_s": 0.3}
    model = replay(tmp_path, plan(step("s1", "stuck", text="x")), finish("gave up"))
    sink = MemoryTraceSink()
    graph = build_agent(AgentConfig(), model=model, tools=[stuck], trace=Tracer(sink))
    started = time.perf_counter()
    state = graph.invoke({"task": "t"})
    assert time.perf_counter() - started < 2.5
    assert state["results"]["s1"].status == "error"
    assert [f.category for f in state["failures"]] == ["execution.timeout"]


def test_raising_tool_becomes_tool_error(tmp_path: Path) -> None:
    @tool
    def broken(text: str) -> str:
        """Always fails."""
        raise RuntimeError("disk on fire")

    model = replay(tmp_path, plan(step("s1", "broken", text="x")), finish("n/a"))
    graph = build_agent(AgentConfig(), model=model, tools=[broken], trace=Tracer(MemoryTraceSink()))
    state = graph.invoke({"task": "t"})
    assert state["results"]["s1"].output == "broken failed: RuntimeError: disk on fire"
    assert [f.category for f in state["failures"]] == ["execution.tool_error"]


def test_step_budget_stops_the_run(tmp_path: Path) -> None:
    model = replay(
        tmp_path,
        plan(
            step("s1", "calculator", expression="1+1"),
            step("s2", "calculator", expression="${s1}*2"),
        ),
    )
    graph, _ = agent(tmp_path, model, budgets=Budgets(max_steps=1))
    state = graph.invoke({"task": "t"})
    assert state["status"] == "budget_exhausted"
    assert "steps" in state["status_detail"]
    assert [f.category for f in state["failures"]] == ["efficiency.budget_exhausted"]
    assert state["answer"] is None


def test_llm_call_budget_stops_malformed_retries(tmp_path: Path) -> None:
    model = replay(tmp_path, "garbage", "garbage", "garbage")
    graph, _ = agent(tmp_path, model, budgets=Budgets(max_llm_calls=2))
    state = graph.invoke({"task": "t"})
    assert state["status"] == "budget_exhausted"
    assert [f.category for f in state["failures"]] == [
        "planning.malformed_output",
        "planning.malformed_output",
        "efficiency.budget_exhausted",
    ]


def test_time_budget_stops_the_run(tmp_path: Path) -> None:
    model = replay(
        tmp_path,
        plan(step("s1", "slow_echo", text="a"), step("s2", "shout", text="${s1}")),
    )
    graph, _ = agent(tmp_path, model, budgets=Budgets(max_seconds=0.5))
    state = graph.invoke({"task": "t"})
    assert state["status"] == "budget_exhausted"
    assert state["status_detail"].startswith("budget exhausted: time")


def test_replay_exhausted_is_a_clear_model_error(tmp_path: Path) -> None:
    model = replay(tmp_path, plan(step("s1", "calculator", expression="1+1")))
    graph, _ = agent(tmp_path, model)
    state = graph.invoke({"task": "t"})
    assert state["status"] == "error"
    assert "holds 1 replies; the run asked for reply 2" in state["status_detail"]
    assert [f.category for f in state["failures"]] == ["model.replay_exhausted"]


def test_no_reflection_answers_from_the_template(tmp_path: Path) -> None:
    model = replay(tmp_path, plan(step("s1", "calculator", expression="17*23+4"), answer="${s1}"))
    graph, _ = agent(tmp_path, model, reflection=False)
    state = graph.invoke({"task": "t"})
    assert state["answer"] == "395"
    assert state["counters"].llm_calls == 1
    model.assert_complete()


def test_no_reflection_sends_tool_errors_back_to_planner(tmp_path: Path) -> None:
    model = replay(
        tmp_path,
        plan(step("s1", "calculator", expression="2^^3"), answer="${s1}"),
        plan(step("s1", "calculator", expression="2**3"), answer="${s1}"),
    )
    graph, _ = agent(tmp_path, model, reflection=False)
    state = graph.invoke({"task": "t"})
    assert state["answer"] == "8"
    assert "not a valid expression" in model.calls[1][-1].content


async def test_ainvoke(tmp_path: Path) -> None:
    model = replay(tmp_path, plan(step("s1", "calculator", expression="2**10")), finish("1024"))
    graph, _ = agent(tmp_path, model)
    state = await graph.ainvoke({"task": "t"})
    assert state["answer"] == "1024"


def test_checkpointer_keeps_the_conversation_per_thread(tmp_path: Path) -> None:
    model = replay(
        tmp_path,
        plan(step("s1", "calculator", expression="17*23"), answer="${s1}"),
        plan(step("s1", "calculator", expression="391+4"), answer="${s1}"),
    )
    graph = build_agent(
        AgentConfig(),
        model=model,
        tools=["calculator"],
        trace=Tracer(MemoryTraceSink()),
        checkpointer=InMemorySaver(),
    )
    config = {"configurable": {"thread_id": "t1"}}
    first = graph.invoke({"task": "What is 17*23?"}, config)
    second = graph.invoke({"task": "Add 4 to that"}, config)
    assert first["answer"] == "391" and second["answer"] == "395"
    assert [m.content for m in second["messages"]] == [
        "What is 17*23?",
        "391",
        "Add 4 to that",
        "395",
    ]
    assert first["run_id"] != second["run_id"]
    assert second["failures"] == [] and set(second["results"]) == {"s1"}
    assert "human: What is 17*23?" in model.calls[1][-1].content


def test_agent_as_a_subgraph_node_streams_updates(tmp_path: Path) -> None:
    model = replay(tmp_path, plan(step("s1", "calculator", expression="17*23+4")), finish("395"))
    agent_graph, _ = agent(tmp_path, model)

    class Outer(TypedDict, total=False):
        task: str
        answer: str | None
        report: str

    def report(state: Outer) -> dict[str, str]:
        return {"report": f"agent said {state['answer']}"}

    outer = StateGraph(Outer)
    outer.add_node("agent", agent_graph)
    outer.add_node("report", report)
    outer.add_edge(START, "agent")
    outer.add_edge("agent", "report")
    outer.add_edge("report", END)
    app = outer.compile()

    chunks = list(app.stream({"task": "What is 17*23+4?"}, stream_mode="updates", subgraphs=True))
    inner_nodes = [next(iter(c)) for ns, c in chunks if ns]
    assert inner_nodes[:4] == ["recall", "planner", "validator", "executor"]
    outer_updates = [c for ns, c in chunks if not ns]
    assert outer_updates[-1] == {"report": {"report": "agent said 395"}}


def test_graph_edges_come_from_node_annotations(tmp_path: Path) -> None:
    graph, _ = agent(tmp_path, replay(tmp_path, finish("x")))
    edges = {(e.source, e.target) for e in graph.get_graph().edges}
    for edge in [
        ("__start__", "recall"),
        ("recall", "planner"),
        ("planner", "validator"),
        ("validator", "planner"),
        ("validator", "executor"),
        ("executor", "executor"),
        ("executor", "joiner"),
        ("joiner", "finalizer"),
        ("joiner", "reflector"),
        ("joiner", "planner"),
        ("reflector", "planner"),
        ("reflector", "finalizer"),
        ("finalizer", "remember"),
        ("remember", "__end__"),
    ]:
        assert edge in edges


def test_missing_task_is_a_config_error(tmp_path: Path) -> None:
    from agentlab.errors import ConfigError

    graph, _ = agent(tmp_path, replay(tmp_path, finish("x")))
    with pytest.raises(ConfigError, match="invoke the agent with a task"):
        graph.invoke({"task": "  "})
