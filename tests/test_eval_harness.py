"""The harness: pairs, replay:DIR, recording, resuming, variants, parallel runs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from support import finish, of_type, plan, replan, step, write_cassette

from agentlab.errors import ConfigError
from agentlab.eval import EvalSettings, Evaluation, cassette_path, load_suite, safe_name
from agentlab.eval.harness import finished_pairs, pair_config
from agentlab.eval.suite import Suite, Task
from agentlab.events import ToolCall, TraceEvent
from agentlab.trace import read_trace

SUITE = Suite(
    name="mini",
    tasks=(
        Task(id="add", prompt="What is 17*23+4?", tools=("calculator",), answer="395"),  # type: ignore[call-arg]
        Task(id="pow", prompt="What is 2 to the 10th?", tools=("calculator",), answer="1024"),  # type: ignore[call-arg]
        Task(id="sub", prompt="What is 100-58?", tools=("calculator",), answer="42"),  # type: ignore[call-arg]
    ),
)
EXPRESSIONS = {"add": ("17*23", "${s1}+4"), "pow": ("2**10",), "sub": ("100-58",)}
ANSWERS = {"add": "395", "pow": "1024", "sub": "42"}


def script(task_id: str, variant: str, *, wrong: bool = False) -> list[str]:
    steps = [
        step(f"s{i}", "calculator", expression=e) for i, e in enumerate(EXPRESSIONS[task_id], 1)
    ]
    if variant == "reflection-always":
        # The reflector reads every plan's results; a wrong one finishes with a wrong answer.
        template = f"${{s{len(steps)}}}"
        return [plan(*steps, answer=template), finish("0" if wrong else ANSWERS[task_id])]
    return [plan(*steps, answer="0" if wrong else f"${{s{len(steps)}}}")]


def cassettes(
    root: Path, variants: tuple[str, ...], wrong: set[tuple[str, str]] = frozenset()
) -> Path:  # type: ignore[assignment]
    for variant in variants:
        for task in SUITE.tasks:
            path = cassette_path(root, variant, task.id)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_cassette(path, *script(task.id, variant, wrong=(task.id, variant) in wrong))
    return root


def evaluation(tmp_path: Path, variants: tuple[str, ...], **settings: Any) -> Evaluation:
    settings.setdefault("model", f"replay:{tmp_path / 'cassettes'}")
    return Evaluation(SUITE, EvalSettings(variants=variants, out_dir=tmp_path / "runs", **settings))


def footers(runs: Path) -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for path in runs.glob("*.jsonl"):
        events = read_trace(path)
        assert events[-1].type == "footer", path
        found[(events[0].task_id, events[0].variant)] = events[-1]
    return found


def test_every_pair_runs_once_and_is_graded(tmp_path: Path) -> None:
    variants = ("reflection-always", "no-reflection")
    cassettes(tmp_path / "cassettes", variants, wrong={("sub", "reflection-always")})
    results = evaluation(tmp_path, variants).run()
    assert sorted((r.task_id, r.variant, r.outcome) for r in results) == [
        ("add", "no-reflection", "pass"),
        ("add", "reflection-always", "pass"),
        ("pow", "no-reflection", "pass"),
        ("pow", "reflection-always", "pass"),
        ("sub", "no-reflection", "pass"),
        ("sub", "reflection-always", "fail"),
    ]
    ends = footers(tmp_path / "runs")
    assert len(ends) == 6
    assert ends[("sub", "reflection-always")].verdict.detail == "expected 42, got 0"
    assert ends[("sub", "reflection-always")].failures == {
        "goal.wrong_answer": 1,
        "reflection.premature_finish": 1,
    }
    manifest = json.loads((tmp_path / "runs" / "eval.json").read_text())
    assert manifest["variants"] == list(variants) and manifest["tasks"] == ["add", "pow", "sub"]


def test_rerun_skips_finished_pairs_and_runs_only_missing_ones(tmp_path: Path) -> None:
    cassettes(tmp_path / "cassettes", ("full",))
    first = evaluation(tmp_path, ("full",)).run()
    assert len(first) == 3 and evaluation(tmp_path, ("full",)).pending() == []
    # A killed run leaves a trace without a footer; an interrupted one a footer without verdict.
    victim = Path(next(r.trace for r in first if r.task_id == "pow"))
    lines = victim.read_text().splitlines()
    victim.write_text("\n".join(lines[:-3]) + "\n")
    interrupted = Path(next(r.trace for r in first if r.task_id == "sub"))
    footer = json.loads(interrupted.read_text().splitlines()[-1])
    footer.pop("verdict")
    footer["status_detail"] = "interrupted"
    interrupted.write_text(
        "\n".join([*interrupted.read_text().splitlines()[:-1], json.dumps(footer)]) + "\n"
    )
    assert finished_pairs(tmp_path / "runs") == {("add", "full")}
    again = evaluation(tmp_path, ("full",)).run()
    assert sorted(r.task_id for r in again) == ["pow", "sub"]
    assert evaluation(tmp_path, ("full",)).pending() == []


def test_replay_dir_needs_every_cassette(tmp_path: Path) -> None:
    cassettes(tmp_path / "cassettes", ("full",))
    with pytest.raises(
        ConfigError, match=r"no cassette for 3 pair\(s\), e\.g\. .*no-validator/add\.jsonl"
    ):
        evaluation(tmp_path, ("full", "no-validator"))


def test_unknown_variants_are_refused(tmp_path: Path) -> None:
    cassettes(tmp_path / "cassettes", ("full",))
    with pytest.raises(ConfigError, match="unknown variant 'no-abacus'"):
        evaluation(tmp_path, ("full", "no-abacus"))
    with pytest.raises(ConfigError, match="repeat"):
        evaluation(tmp_path, ("full", "full"))


def test_no_tool_variant_for_a_task_without_that_tool_keeps_its_inventory() -> None:
    task = Task(id="t", prompt="p", tools=("calculator",), answer="1")  # type: ignore[call-arg]
    assert pair_config(_base(), task, "no-python").without_tools == ()
    removed = pair_config(_base(), task, "no-calculator")
    assert removed.without_tools == ("calculator",) and removed.variant == "no-calculator"
    assert pair_config(_base(), task, "no-python").variant == "no-python"


def _base() -> Any:
    from agentlab.config import AgentConfig

    return AgentConfig()


def normalised(events: list[TraceEvent]) -> list[dict[str, Any]]:
    """A trace without what differs between identical runs: ids, clocks, durations, paths.

    `tokens_estimated` differs too, but only here: the first run's hand-written cassettes
    have no token counts (estimated), the recorded ones carry those estimates as counts.
    """
    volatile = {"run_id", "time", "duration_s", "started", "ended", "seconds", "latency_s", "model"}
    volatile |= {"tokens_estimated"}

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if k not in volatile}
        if isinstance(value, list):
            return [clean(v) for v in value]
        if isinstance(value, str):
            return re.sub(r"/tmp/\S+", "<path>", value)
        return value

    return [clean(e.model_dump(mode="json")) for e in events]


def traces_by_pair(runs: Path) -> dict[tuple[str, str], list[dict[str, Any]]]:
    out = {}
    for path in runs.glob("*.jsonl"):
        events = read_trace(path)
        out[(events[0].task_id, events[0].variant)] = normalised(events)
    return out


def test_recorded_cassettes_replay_bit_for_bit(tmp_path: Path) -> None:
    variants = ("full", "no-reflection")
    cassettes(tmp_path / "cassettes", variants, wrong={("add", "full")})
    recorded = tmp_path / "recorded"
    evaluation(tmp_path, variants, record_dir=recorded, jobs=2).run()
    assert sorted(p.relative_to(recorded).as_posix() for p in recorded.rglob("*.jsonl")) == [
        f"{v}/{t}.jsonl" for v in variants for t in ("add", "pow", "sub")
    ]
    entry = json.loads((recorded / "full" / "add.jsonl").read_text().splitlines()[0])
    assert {"reply", "messages", "tokens_in", "tokens_out", "latency_s"} <= entry.keys()
    replayed = Evaluation(
        SUITE,
        EvalSettings(
            variants=variants, out_dir=tmp_path / "replayed", model=f"replay:{recorded}", jobs=3
        ),
    )
    replayed.run()
    assert traces_by_pair(tmp_path / "replayed") == traces_by_pair(tmp_path / "runs")


def test_limit_and_seed_pick_a_reproducible_sample() -> None:
    suite = load_suite("math")
    pick = [
        t.id
        for t in Evaluation(
            suite, EvalSettings(out_dir=Path("/nonexistent"), limit=3, seed=7)
        ).tasks
    ]
    again = [
        t.id
        for t in Evaluation(
            suite, EvalSettings(out_dir=Path("/nonexistent"), limit=3, seed=7)
        ).tasks
    ]
    assert pick == again and len(pick) == 3
    first = [
        t.id for t in Evaluation(suite, EvalSettings(out_dir=Path("/nonexistent"), limit=3)).tasks
    ]
    assert first == [t.id for t in suite.tasks[:3]]


def test_safe_names() -> None:
    assert safe_name("HumanEval/12") == "HumanEval_12"
    assert safe_name("../x") == "x"


def test_a_bfcl_style_task_runs_with_declared_tools(tmp_path: Path) -> None:
    function = {
        "name": "math.factorial",
        "description": "Factorial.",
        "parameters": {
            "type": "dict",
            "properties": {"number": {"type": "integer"}},
            "required": ["number"],
        },
    }
    from agentlab.eval.suite import BfclCheck

    suite = Suite(
        name="b",
        tasks=(
            Task(
                id="f",
                prompt="Factorial of 5?",
                tools=(),
                functions=(function,),
                check=BfclCheck(ground_truth=({"math.factorial": {"number": [5]}},)),
            ),
        ),
    )
    root = tmp_path / "cassettes"
    write_cassette(
        _mk(cassette_path(root, "full", "f")),
        plan(step("s1", "math.factorial", number=5), answer="${s1}"),
    )
    bad = plan(step("s1", "math.factorial", number="5"), answer="${s1}")
    write_cassette(
        _mk(cassette_path(root, "no-validator", "f")), bad, replan("try again"), bad, finish("?")
    )
    Evaluation(
        suite,
        EvalSettings(
            variants=("full", "no-validator"), out_dir=tmp_path / "runs", model=f"replay:{root}"
        ),
    ).run()
    ends = footers(tmp_path / "runs")
    assert ends[("f", "full")].verdict.outcome == "pass"
    wrong = ends[("f", "no-validator")]
    assert wrong.verdict.outcome == "fail"
    assert wrong.verdict.detail.startswith("type_error:simple")
    # The executor saw the bad argument too (planning.invalid_arguments); eval adds its verdict.
    assert wrong.failures["goal.wrong_answer"] == 1
    assert wrong.failures["planning.invalid_arguments"] >= 1


def _mk(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


RESEARCHER = Path(__file__).resolve().parents[1] / "examples" / "researcher" / "cassettes"


def test_search_suite_runs_over_the_shipped_corpus(tmp_path: Path) -> None:
    """The researcher example's recorded replies answer three search-QA tasks offline."""
    shipped = load_suite("search")
    assert len(shipped.tasks) == 20
    recorded = sorted(p.stem for p in RESEARCHER.glob("*.jsonl"))
    suite = Suite(name="search", tasks=tuple(t for t in shipped.tasks if t.id in recorded))
    root = tmp_path / "cassettes"
    for task in suite.tasks:
        target = cassette_path(root, "full", task.id)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((RESEARCHER / f"{task.id}.jsonl").read_bytes())
    results = Evaluation(
        suite, EvalSettings(variants=("full",), out_dir=tmp_path / "runs", model=f"replay:{root}")
    ).run()
    assert {r.task_id: r.outcome for r in results} == {t: "pass" for t in recorded}
    for result in results:
        calls = of_type(read_trace(result.trace or ""), ToolCall)
        assert calls and all(c.tool == "search" and c.status == "ok" for c in calls)


def test_task_config_sets_agent_fields_and_refuses_the_rest() -> None:
    task = load_suite("search").tasks[0]
    assert pair_config(_base(), task, "no-reflection").search_backend == "local"
    with pytest.raises(ValueError, match="config may not set tools"):
        Task(id="x", prompt="p", answer="1", config={"tools": ["calculator"]})  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="config may not set nonsense"):
        Task(id="x", prompt="p", answer="1", config={"nonsense": 1})  # type: ignore[call-arg]
