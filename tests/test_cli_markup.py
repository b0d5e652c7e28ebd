"""Text from models, tools, documents and traces is printed as text: Rich markup in it is
neither rendered nor able to end the command with a `MarkupError`."""

from __future__ import annotations

import io
import json
from contextlib import ExitStack
from pathlib import Path

import pytest
from rich.console import Console
from support import agentlab, finish, only_trace, plan, step, write_cassette

from agentlab.cli.render import RunRenderer
from agentlab.memory import LongTermMemory, MemoryKind, open_store
from agentlab.runner import RunResult
from agentlab.state import Counters, StepResult

MARKUP = "[/bold]"


def clean(done: object, *, user_traceback: bool = False) -> str:
    """stdout + stderr, after checking nothing crashed (`user_traceback`: the sandboxed
    code's own traceback is expected, one of agentlab's is not)."""
    text: str = done.stdout + done.stderr  # type: ignore[attr-defined]
    assert "MarkupError" not in text, text
    assert ("agentlab/cli" not in text) if user_traceback else ("Traceback" not in text), text
    return text


def test_renderer_prints_model_and_tool_text_as_text() -> None:
    buffer = io.StringIO()
    renderer = RunRenderer(Console(file=buffer, width=200, color_system=None))
    renderer.handle("custom", {"event": "step_started", "step_id": MARKUP, "tool": "[red]"})
    result = StepResult(
        step_id=MARKUP, tool="[/]", args={"x": "[b]"}, status="error", output="[/red] failed"
    )
    renderer.handle("custom", {"event": "step_finished", **result.model_dump()})
    renderer.result(
        RunResult(
            run_id="r",
            status="no_answer",
            answer=None,
            status_detail="[/i] gave up",
            trace_path="/tmp/[/u]/r.jsonl",
            counters=Counters(),
            failures=[],
            thread_id=None,
        )
    )
    shown = buffer.getvalue()
    for text in ("running [/bold] ([red])", "[/bold] error [/]", "[/red] failed", "[/i] gave up"):
        assert text in shown
    assert "/tmp/[/u]/r.jsonl" in shown


def test_run_shows_markup_in_ids_tools_and_answers_literally(tmp_path: Path) -> None:
    cassette = write_cassette(
        tmp_path / "c.jsonl",
        plan(step(MARKUP, "calculator", expression="1+1"), step("s2", "[/abacus]", x=1)),
        finish("[bold red]2[/]"),
    )
    done = agentlab("run", "1+1?", "--model", f"replay:{cassette}", "--no-validator", cwd=tmp_path)
    text = clean(done)
    assert done.returncode == 0
    assert "'[/bold]' is not a plain id" in text
    assert "unknown tool '[/abacus]'" in text
    assert "answer: [bold red]2[/]" in text
    assert only_trace(tmp_path / "agentlab-home" / "runs")[-1].answer == "[bold red]2[/]"


def test_usage_errors_and_thread_names_print_markup_literally(tmp_path: Path) -> None:
    cassette = tmp_path / "none.jsonl"
    done = agentlab("run", "x", "--model", f"replay:{cassette}", "--tools", "[/b]", cwd=tmp_path)
    assert done.returncode == 2 and "unknown tool(s) [/b]" in clean(done)
    write_cassette(cassette)
    chat = agentlab("chat", "--thread", "[/t]", "--model", f"replay:{cassette}", cwd=tmp_path)
    assert chat.returncode == 0 and "agentlab chat --thread [/t]" in clean(chat)


def test_eval_progress_and_the_failure_report_print_task_ids_literally(tmp_path: Path) -> None:
    suite = tmp_path / "suite.jsonl"
    suite.write_text(json.dumps({"id": "[/t1]", "prompt": "1+1?", "answer": "2"}) + "\n")
    cassette = write_cassette(
        tmp_path / "c.jsonl", plan(step("s1", "calculator", expression="1+1")), finish("2")
    )
    done = agentlab(
        "eval", str(suite), "--model", f"replay:{cassette}", "--out", "out", cwd=tmp_path
    )
    assert done.returncode == 0, clean(done)
    report = agentlab("failures", "out", "--by", "task", cwd=tmp_path)
    assert report.returncode == 0 and "[/t1]" in clean(report)


def test_memory_list_prints_memories_literally(tmp_path: Path) -> None:
    with ExitStack() as stack:  # the store the CLI opens (AGENTLAB_HOME, same embedder)
        store = open_store(stack)
        LongTermMemory(store).remember(MemoryKind.LESSON, "tool said [/bold] and [red]stop")
    done = agentlab("memory", "list", cwd=tmp_path)
    assert done.returncode == 0 and "tool said [/bold] and [red]stop" in clean(done)
    found = agentlab("memory", "search", "tool said", cwd=tmp_path)
    assert found.returncode == 0 and "[/bold]" in clean(found)


def test_search_without_hits_prints_the_query_literally(tmp_path: Path) -> None:
    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "a.md").write_text("# Kettles\nA kettle boils water.\n")
    done = agentlab("search", "[/b] zebra", "--corpus", str(corpus), cwd=tmp_path)
    assert done.returncode == 0 and "for '[/b] zebra'" in clean(done)


@pytest.mark.docker
def test_sandbox_exec_prints_errors_and_file_names_literally(tmp_path: Path) -> None:
    code = "open('[bold]x.txt', 'w').write('1')\nraise ValueError('[/bold] boom')"
    done = agentlab("sandbox", "exec", code, "--save", "saved", cwd=tmp_path)
    text = clean(done, user_traceback=True)
    assert done.returncode == 1
    assert "ValueError: [/bold] boom" in text
    assert "file [bold]x.txt (1 bytes)" in text
    assert (tmp_path / "saved" / "[bold]x.txt").read_text() == "1"
