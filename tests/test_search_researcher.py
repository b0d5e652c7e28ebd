"""The researcher example answers shipped questions with the right cited path (replay cassettes),
and the `agentlab search` / `agentlab index build` commands as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import Result
from support import agentlab, of_type
from typer.testing import CliRunner

from agentlab import AgentConfig
from agentlab.cli.app import app
from agentlab.events import ToolCall
from agentlab.runner import Runner
from agentlab.trace import read_trace

ROOT = Path(__file__).resolve().parents[1]
RESEARCHER = ROOT / "examples" / "researcher"
TASKS = {
    task["id"]: task
    for task in map(json.loads, (RESEARCHER / "tasks.jsonl").read_text().splitlines())
}
CASSETTES = sorted(p.stem for p in (RESEARCHER / "cassettes").glob("*.jsonl"))


def test_three_questions_have_cassettes() -> None:
    assert CASSETTES == ["outage-cause", "per-diem", "skiff-warranty"]


@pytest.mark.parametrize("task_id", CASSETTES)
def test_researcher_answers_with_the_right_cited_path(tmp_path: Path, task_id: str) -> None:
    task = TASKS[task_id]
    runner = Runner(
        AgentConfig(tools=("search",), search_backend="local"),
        model=f"replay:{RESEARCHER / 'cassettes' / f'{task_id}.jsonl'}",
        trace_dir=tmp_path,
    )
    result = runner.run(task["prompt"], task_id=task_id)
    assert result.status == "answered", result.status_detail
    assert result.answer is not None
    assert task["source"] in result.answer
    assert task["answer"].lower() in result.answer.lower()
    # The cited document is one the search actually returned, not one the script made up.
    events = read_trace(Path(result.trace_path or ""))
    calls = of_type(events, ToolCall)
    assert calls and all(c.status == "ok" and c.data["backend"] == "local" for c in calls)
    found = {hit["path"] for c in calls for hit in c.data["hits"]}
    assert task["source"] in found
    # The result cites the document the answer names, from those hits.
    assert [(c.path, c.named) for c in result.citations] == [(task["source"], True)]
    assert Path(result.citations[0].location).is_file()


def cli(*args: str) -> Result:
    """The CLI in-process (a subprocess costs seconds of imports); one test runs the real one."""
    return CliRunner().invoke(app, list(args))


def test_cli_searches_the_shipped_corpus(tmp_path: Path) -> None:
    done = agentlab(
        "search", "P1 ticket enterprise response", "--backend", "local", "--json", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert results["backend"] == "local"
    assert results["hits"][0]["path"] == "support/sla.md"
    text = cli("search", "skiff warranty", "--backend", "local", "-n", "2")
    assert text.exit_code == 0, text.output
    assert "support/warranty.md" in text.stdout and "3." not in text.stdout


def test_cli_builds_an_index_once_and_searches_a_folder(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "rig.md").write_text("# Rigging\n\nThe forestay holds the mast forward.\n")
    first = cli("index", "build", str(docs), "--json")
    assert first.exit_code == 0, first.output
    second = cli("index", "build", str(docs), "--json")
    built = [json.loads(first.stdout)["built"], json.loads(second.stdout)["built"]]
    assert built == [True, False]
    assert json.loads(second.stdout)["location"].startswith(str(docs / ".agentlab-index"))
    assert "up to date, reused: 1 files" in cli("index", "build", str(docs)).stdout
    found = cli("search", "forestay", "--corpus", str(docs))
    assert found.exit_code == 0, found.output
    assert "rig.md" in found.stdout and "Rigging" in found.stdout


def test_cli_usage_errors_exit_2(tmp_path: Path) -> None:
    missing = cli("index", "build", str(tmp_path / "nowhere"))
    assert missing.exit_code == 2 and "does not exist" in missing.stderr
    both = cli("search", "x", "--backend", "web", "--corpus", str(tmp_path))
    assert both.exit_code == 2 and "--corpus is for the local backend" in both.stderr
    bad = cli("search", "x", "--backend", "bing")
    assert bad.exit_code == 2 and "unknown backend" in bad.stderr


def test_wheel_ships_the_corpus_tasks_and_cassettes_but_no_index(tmp_path: Path) -> None:
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    subprocess.run(
        [*pip_wheel, "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    [wheel] = tmp_path.glob("agentlab-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    prefix = "agentlab/examples/researcher/"
    corpus = {n for n in names if n.startswith(prefix + "corpus/")}
    shipped = {
        prefix + p.relative_to(RESEARCHER).as_posix()
        for p in (RESEARCHER / "corpus").rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(RESEARCHER).parts)
    }
    assert corpus == shipped
    assert len(corpus) >= 30
    assert {prefix + "tasks.jsonl", prefix + "README.md"} <= names
    assert {prefix + f"cassettes/{c}.jsonl" for c in CASSETTES} <= names
    assert "agentlab/tools/search/index.py" in names
