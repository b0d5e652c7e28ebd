"""Graph overhead per agent step: agentlab against a bare LangGraph tool loop.

Both run the same replayed model (a cassette, so no model time) and the same
calculator tool, without a checkpointer, interleaved in one process so the
machine's noise hits both alike. agentlab also writes its JSON-lines trace,
as it does in real use.

    flock /tmp/agentlab-cpu.lock .venv/bin/python benchmarks/graph_overhead.py [--steps 8] [--rounds 30]
    .venv/bin/python benchmarks/graph_overhead.py --smoke     # 2 steps, 2 rounds: does it run?
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from smoke import add_smoke, check_traces

from agentlab import AgentConfig, build_agent
from agentlab.llm import ReplayChatModel
from agentlab.tools.calculator import Calculator


def chain_plan(steps: int) -> str:
    plan = [{"id": "s1", "tool": "calculator", "args": {"expression": "1+1"}}]
    for i in range(2, steps + 1):
        plan.append(
            {"id": f"s{i}", "tool": "calculator", "args": {"expression": f"${{s{i - 1}}}+1"}}
        )
    return json.dumps({"steps": plan})


def write(path: Path, replies: list[str]) -> Path:
    path.write_text("".join(json.dumps({"reply": r}) + "\n" for r in replies))
    return path


def agentlab_run(cassette: Path, runs_dir: Path) -> float:
    graph = build_agent(
        AgentConfig(tools=("calculator",)),
        model=ReplayChatModel(path=str(cassette)),
        tools=[Calculator()],
        trace=runs_dir,
    )
    started = time.perf_counter()
    state = graph.invoke({"task": "count up"})
    elapsed = time.perf_counter() - started
    if state["status"] != "answered":
        raise SystemExit(f"agentlab run failed: {state['status_detail']}")
    return elapsed


class LoopState(TypedDict):
    messages: Annotated[list[Any], lambda a, b: a + b]
    value: str
    done: bool


def bare_loop_run(cassette: Path) -> float:
    """The textbook loop: model picks one tool call (JSON), tool runs, back to the model."""
    model = ReplayChatModel(path=str(cassette))
    calculator = Calculator()

    def call_model(state: LoopState) -> dict[str, Any]:
        reply = model.invoke(state["messages"])
        action = json.loads(str(reply.content))
        if "answer" in action:
            return {"messages": [reply], "done": True, "value": action["answer"]}
        expression = action["expression"].replace("PREV", state["value"])
        return {"messages": [reply], "done": False, "value": expression}

    def call_tool(state: LoopState) -> dict[str, Any]:
        result = calculator.invoke({"expression": state["value"]})
        return {"messages": [("user", f"result: {result.value}")], "value": result.value}

    builder = StateGraph(LoopState)
    builder.add_node("model", call_model)
    builder.add_node("tool", call_tool)
    builder.add_edge(START, "model")
    builder.add_conditional_edges("model", lambda s: END if s["done"] else "tool")
    builder.add_edge("tool", "model")
    graph = builder.compile()
    started = time.perf_counter()
    state = graph.invoke({"messages": [("user", "count up")], "value": "", "done": False})
    elapsed = time.perf_counter() - started
    if not state["done"]:
        raise SystemExit("bare loop did not finish")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=30)
    add_smoke(parser)
    args = parser.parse_args()
    if args.smoke:
        args.steps, args.rounds = 2, 2
    steps = args.steps
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        agent_cassette = write(
            root / "agent.jsonl",
            [
                chain_plan(steps),
                json.dumps({"answer": str(steps + 1), "decision": "finish", "critique": ""}),
            ],
        )
        loop_cassette = write(
            root / "loop.jsonl",
            [json.dumps({"expression": "1+1"})]
            + [json.dumps({"expression": "PREV+1"})] * (steps - 1)
            + [json.dumps({"answer": str(steps + 1)})],
        )
        agentlab_run(agent_cassette, root / "runs")  # warm-up: imports, first compile
        bare_loop_run(loop_cassette)
        ours, bare = [], []
        for _ in range(args.rounds):
            ours.append(agentlab_run(agent_cassette, root / "runs") / steps)
            bare.append(bare_loop_run(loop_cassette) / steps)
        if args.smoke:
            check_traces(root / "runs")
    ours_ms, bare_ms = statistics.median(ours) * 1e3, statistics.median(bare) * 1e3
    print(f"steps per run: {steps}, rounds: {args.rounds}")
    print(
        f"agentlab     median per step: {ours_ms:.2f} ms (trace written, validator + reflector on)"
    )
    print(f"bare loop    median per step: {bare_ms:.2f} ms")
    print(f"ratio agentlab / bare loop: {ours_ms / bare_ms:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main()
