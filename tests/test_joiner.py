"""The plan carries its answer: what the joiner does with a plan's results under each
reflection policy, on replayed cassettes (issue: the plan pays off)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langchain_core.tools import tool
from support import finish, of_type, plan, replan, step, write_cassette

from agentlab import AgentConfig, build_agent
from agentlab.events import Joined, ModelCall, PlanMade, ToolCall
from agentlab.llm import ReplayChatModel
from agentlab.trace import MemoryTraceSink, Tracer

TASK = "A warehouse has 17 boxes with 23 bottles each, and 4 loose bottles. How many bottles?"
GOOD = plan(
    step("s1", "calculator", expression="17*23"),
    step("s2", "calculator", expression="${s1}+4"),
    answer="${s2}",
)


@tool
def lookup(topic: str) -> str:
    """Look a fact up in the handbook."""
    facts = {"leave": "Employees get 20 weeks of paid parental leave.", "home": "3 days a week."}
    return facts.get(topic, "nothing found")


def run(
    tmp_path: Path, *replies: str, tools: list[Any] | None = None, **config: Any
) -> tuple[dict[str, Any], MemoryTraceSink, ReplayChatModel]:
    model = ReplayChatModel(path=str(write_cassette(tmp_path / "c.jsonl", *replies)))
    sink = MemoryTraceSink()
    graph = build_agent(
        AgentConfig(memory=False, **config),
        model=model,
        tools=tools or ["calculator"],
        trace=Tracer(sink),
    )
    state = graph.invoke({"task": TASK})
    model.assert_complete()
    return state, sink, model


def joined(sink: MemoryTraceSink) -> list[tuple[str, str]]:
    return [(e.decision, e.reason) for e in of_type(sink.events, Joined)]


def test_a_clean_run_answers_from_its_template_with_one_model_call(tmp_path: Path) -> None:
    state, sink, _ = run(tmp_path, GOOD)
    assert (state["status"], state["answer"]) == ("answered", "395")
    assert state["counters"].llm_calls == 1
    assert [c.node for c in of_type(sink.events, ModelCall)] == ["planner"]
    assert joined(sink) == [("answer", "clean")]
    assert of_type(sink.events, Joined)[0].template_answer == "395"


def test_a_failing_step_is_reflected_on(tmp_path: Path) -> None:
    broken = plan(
        step("s1", "calculator", expression="17*23/0"),
        step("s2", "calculator", expression="${s1}+4"),
        answer="${s2}",
    )
    state, sink, model = run(tmp_path, broken, replan("divided by zero", wrong=["s1"]), GOOD)
    assert (state["status"], state["answer"]) == ("answered", "395")
    assert [c.node for c in of_type(sink.events, ModelCall)] == ["planner", "reflector", "planner"]
    assert joined(sink) == [("reflect", "failed_steps"), ("answer", "clean")]
    # The reflector saw the error and the skipped step.
    reflector_prompt = str(model.calls[1][-1].content)
    assert "division by zero" in reflector_prompt and "SKIPPED" in reflector_prompt


def test_reflection_always_asks_the_reflector_after_every_plan(tmp_path: Path) -> None:
    state, sink, _ = run(tmp_path, GOOD, finish("395"), reflection="always")
    assert state["answer"] == "395" and state["counters"].llm_calls == 2
    assert joined(sink) == [("reflect", "always")]


def test_reflection_never_sends_a_failure_back_to_the_planner(tmp_path: Path) -> None:
    broken = plan(step("s1", "calculator", expression="2^^3"), answer="${s1}")
    fixed = plan(step("s1", "calculator", expression="2**3"), answer="${s1}")
    state, sink, model = run(tmp_path, broken, fixed, reflection="never")
    assert state["answer"] == "8"
    assert [c.node for c in of_type(sink.events, ModelCall)] == ["planner", "planner"]
    assert joined(sink) == [("plan", "failed_steps"), ("answer", "clean")]
    assert "not a valid expression" in str(model.calls[1][-1].content)


def test_a_template_naming_a_missing_step_is_a_bad_reference_before_anything_runs(
    tmp_path: Path,
) -> None:
    wrong = plan(step("s1", "calculator", expression="17*23+4"), answer="${s2}")
    state, sink, model = run(tmp_path, wrong, GOOD)
    assert state["answer"] == "395"
    first = state["failures"][0]
    assert (first.category, first.node, first.step_id) == (
        "planning.bad_reference",
        "validator",
        "s2",
    )
    assert "refers to ${s2}, which is not a step of the plan" in first.detail
    # The rejected plan never reached a tool: only the good plan's two calls ran.
    assert len(of_type(sink.events, ToolCall)) == 2
    assert "which is not a step of the plan" in str(model.calls[1][-1].content)


def test_a_plan_without_an_answer_is_read_by_the_reflector(tmp_path: Path) -> None:
    gather = plan(step("s1", "lookup", topic="leave"), step("s2", "lookup", topic="home"))
    state, sink, model = run(tmp_path, gather, finish("20 weeks"), tools=[lookup])
    assert state["answer"] == "20 weeks" and state["counters"].llm_calls == 2
    assert joined(sink) == [("reflect", "no_template")]
    assert "20 weeks of paid parental leave" in str(model.calls[1])  # the results, read


def test_without_reflection_a_plan_without_an_answer_gets_a_second_round(tmp_path: Path) -> None:
    gather = plan(step("s1", "lookup", topic="leave"), step("s2", "lookup", topic="home"))
    compute = plan(step("s1", "calculator", expression="20+3"), answer="${s1}")
    state, sink, model = run(
        tmp_path, gather, compute, tools=[lookup, "calculator"], reflection="never"
    )
    assert state["answer"] == "23" and state["counters"].llm_calls == 2
    assert joined(sink) == [("plan", "no_template"), ("answer", "clean")]
    second_prompt = str(model.calls[1][-1].content)
    assert "20 weeks of paid parental leave" in second_prompt  # the first round's results
    assert "gave no answer" in second_prompt


def test_search_results_are_not_an_answer_by_themselves(tmp_path: Path) -> None:
    from agentlab.tools.search import SearchTool

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "leave.md").write_text("# Leave\n\nParental leave is 20 weeks.\n")
    searching = plan(step("s1", "search", query="parental leave weeks"), answer="${s1}")
    state, sink, _ = run(
        tmp_path,
        searching,
        finish("20 weeks"),
        tools=[SearchTool(backend="local", corpus=corpus)],
    )
    assert state["answer"] == "20 weeks"
    assert joined(sink) == [("reflect", "not_usable")]


def test_several_plans_pick_the_answer_most_agree_on_and_record_why(tmp_path: Path) -> None:
    off_by_one = plan(step("s1", "calculator", expression="17*23+3"), answer="${s1}")
    one_step = plan(step("s1", "calculator", expression="17*23+4"), answer="${s1}")
    state, sink, _ = run(tmp_path, off_by_one, GOOD, one_step, plans=3)
    assert state["answer"] == "395"
    assert state["counters"].llm_calls == 3
    made = of_type(sink.events, PlanMade)
    # Each candidate, then the chosen one as the round's plan.
    assert [m.candidate for m in made] == [1, 2, 3, None]
    assert made[-1].plan.answer == "${s2}" and made[-1].node == "joiner"
    [join] = of_type(sink.events, Joined)
    outcomes = {c.candidate: c for c in join.candidates}
    assert [outcomes[n].answer for n in (1, 2, 3)] == ["394", "395", "395"]
    assert [n for n, c in outcomes.items() if c.chosen] == [2]
    assert "2 of 3" in outcomes[2].why
    assert outcomes[1].why == "its answer had fewer votes"
    # The chosen plan is what the run reports; its results are under its own step ids.
    assert state["plan"].steps[1].args["expression"] == "${s1}+4"
    assert set(state["results"]) == {"s1", "s2"}


def test_several_plans_drop_one_the_validator_rejects(tmp_path: Path) -> None:
    unknown_tool = plan(step("s1", "abacus", expression="17*23+4"), answer="${s1}")
    state, sink, _ = run(tmp_path, unknown_tool, GOOD, plans=2)
    assert state["answer"] == "395"
    [join] = of_type(sink.events, Joined)
    first, second = join.candidates
    assert (first.valid, first.why) == (False, "the validator rejected it")
    assert second.chosen
    assert [f.detail.startswith("candidate 1:") for f in state["failures"]] == [True]


def test_arithmetic_between_results_in_the_template_is_computed(tmp_path: Path) -> None:
    parts = plan(
        step("s1", "calculator", expression="12*24"),
        step("s2", "calculator", expression="15*36"),
        answer="${s1} + ${s2}",
    )
    state, sink, _ = run(tmp_path, parts)
    assert state["answer"] == "828"
    assert of_type(sink.events, Joined)[0].template_answer == "828"


def test_an_operator_inside_a_result_is_not_arithmetic(tmp_path: Path) -> None:
    @tool
    def date(event: str) -> str:
        """The date of an event."""
        return "2024-1-5"

    state, _, _ = run(
        tmp_path, plan(step("s1", "date", event="launch"), answer="${s1}"), tools=[date]
    )
    assert state["answer"] == "2024-1-5"


def test_the_cli_has_words_for_every_join_reason() -> None:
    from typing import get_args

    from agentlab.cli.render import JOIN_WORDS
    from agentlab.events import JoinReason

    assert set(JOIN_WORDS) == set(get_args(JoinReason))
