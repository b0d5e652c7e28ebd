"""Your own documents: `--corpus DIR` on run, chat and eval, `corpus:` in an agent.yaml and
`AGENTLAB_CORPUS` point the search tool at a folder; the index is built once (progress on a
terminal), files it cannot read are listed; answers cite the documents they rest on."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from click.testing import Result
from rich.console import Console
from support import agentlab, finish, of_type, only_trace, plan, step, write_cassette
from typer.testing import CliRunner

from agentlab.cli.app import app
from agentlab.cli.corpus import prepare_folders
from agentlab.events import ToolCall
from agentlab.tools.search import shipped_corpus
from agentlab.trace import read_trace

QUESTION = "What holds the mast forward?"
ANSWER = "The forestay holds the mast forward (boats/rigging.md)."


def documents(folder: Path) -> Path:
    """A small folder of a user's documents, with a binary file, a broken PDF and a file
    over the size cap in it."""
    (folder / "boats").mkdir(parents=True)
    (folder / "boats" / "rigging.md").write_text(
        "# Boat care\n\nHow we look after the fleet.\n\n"
        "## Standing rigging\n\nThe forestay holds the mast forward; check it each spring.\n",
        encoding="utf-8",
    )
    (folder / "harbour.txt").write_text("The harbour closes at dusk.\n", encoding="utf-8")
    (folder / "photo.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
    with (folder / "huge.txt").open("wb") as huge:
        huge.truncate(21 << 20)  # sparse: over the 20 MiB cap without writing it
    return folder


def cassette(folder: Path, answer: str = ANSWER) -> Path:
    return write_cassette(
        folder / "cassette.jsonl",
        plan(step("s1", "search", query="forestay mast", max_results=3), answer=""),
        finish(answer),
    )


def cli(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "300", **(env or {})}, input=stdin)


def cited_into(result: dict[str, object], folder: Path) -> dict[str, object]:
    """The one citation of a `--json` result, checked to point into `folder`."""
    citations = result["citations"]
    assert isinstance(citations, list) and len(citations) == 1, citations
    [citation] = citations
    assert citation["corpus"] == str(folder.resolve())
    assert citation["path"] == "boats/rigging.md"
    assert citation["heading"] == "Standing rigging"
    assert citation["named"] is True
    assert (folder / str(citation["path"])).is_file()
    assert not (shipped_corpus() / str(citation["path"])).exists()
    return citation


def test_run_researcher_on_a_folder_cites_it(tmp_path: Path) -> None:
    docs = documents(tmp_path / "my docs")
    replay = f"replay:{cassette(tmp_path)}"
    args = ("run", "--agent", "researcher", "--corpus", str(docs), "--model", replay, QUESTION)
    done = agentlab(*args, "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    cited_into(json.loads(done.stdout), docs)
    # The first run built the index and said where; its progress stays off a pipe.
    assert f"indexed {docs}: 2 files" in done.stderr
    assert f"index: {docs / '.agentlab-index'}" in done.stderr
    assert "checking" not in done.stderr and "indexing " not in done.stderr
    assert "skipped photo.txt: binary data" in done.stderr
    assert "skipped broken.pdf: PDF:" in done.stderr
    assert "skipped huge.txt: larger than 20 MiB" in done.stderr
    # The next run reuses it and shows the sources under the answer.
    again = agentlab(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"index of {docs} is current: 2 files" in again.stdout
    assert "3 skipped" in again.stdout
    assert f"sources:\n  {docs}/boats/rigging.md — Standing rigging" in again.stdout
    [trace] = [line for line in again.stdout.splitlines() if line.startswith("trace: ")]
    calls = of_type(read_trace(Path(trace.removeprefix("trace: "))), ToolCall)
    assert [hit["corpus"] for c in calls for hit in c.data["hits"]] == [str(docs)]


def test_agent_yaml_names_its_corpus_relative_to_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent_dir = tmp_path / "my-agent"
    docs = documents(agent_dir / "docs")
    (agent_dir / "agent.yaml").write_text(
        "description: Answers from my notes.\ntools: [search]\ncorpus: docs\n", encoding="utf-8"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the folder is found from the YAML's place, not the working dir
    replay = f"replay:{cassette(tmp_path)}"
    done = cli("run", "--agent", str(agent_dir / "agent.yaml"), "--model", replay, "--json", "?")
    assert done.exit_code == 0, done.output
    cited_into(json.loads(done.stdout), docs)
    listed = cli("agents", str(agent_dir / "agent.yaml"))
    assert listed.exit_code == 0, listed.output
    assert str(docs.resolve())[:20] in listed.stdout.replace("\n", "")


def test_agentlab_corpus_points_every_searching_agent_at_the_folders(tmp_path: Path) -> None:
    docs = documents(tmp_path / "docs")
    more = tmp_path / "more"
    more.mkdir()
    (more / "sails.md").write_text("# Sails\n\nThe mainsail sits behind the mast.\n", "utf-8")
    env = {"AGENTLAB_CORPUS": f"{docs}{os.pathsep}{more}", "COLUMNS": "300"}
    replay = f"replay:{cassette(tmp_path)}"
    done = cli("run", "--agent", "researcher", "--model", replay, "--json", QUESTION, env=env)
    assert done.exit_code == 0, done.output
    cited_into(json.loads(done.stdout), docs)
    trace = json.loads(done.stdout)["trace"]
    [call] = of_type(only_trace(Path(trace).parent), ToolCall)
    # Both folders were searched; the answer named the one document it used.
    assert {hit["corpus"] for hit in call.data["hits"]} == {str(docs), str(more)}
    assert searches("researcher", env) == f"{docs}, {more}"
    assert searches("researcher") == "the shipped handbook"
    assert searches("math") == "-"


def searches(agent: str, env: dict[str, str] | None = None) -> str:
    """The `searches` cell of `agent`'s row in `agentlab agents`."""
    listed = cli("agents", env=env)
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"│ {agent} "))
    cells = [lines[start].split("│")[3].strip()]
    for line in lines[start + 1 :]:  # a long cell wraps onto lines whose first cell is empty
        parts = line.split("│")
        if len(parts) < 4 or parts[1].strip():
            break
        cells.append(parts[3].strip())
    return " ".join(c for c in cells if c)


def test_a_flag_beats_the_yaml_and_the_yaml_beats_the_environment(tmp_path: Path) -> None:
    flag, yaml_docs, env_docs = (documents(tmp_path / n) for n in ("flag", "yaml", "env"))
    (tmp_path / "agent.yaml").write_text("tools: [search]\ncorpus: yaml\n", encoding="utf-8")
    env = {"AGENTLAB_CORPUS": str(env_docs)}
    agent = str(tmp_path / "agent.yaml")

    def cited(*args: str) -> object:
        replay = f"replay:{cassette(tmp_path)}"
        done = cli("run", "--agent", agent, "--model", replay, "--json", *args, "?", env=env)
        assert done.exit_code == 0, done.output
        return json.loads(done.stdout)["citations"][0]["corpus"]

    assert cited() == str(yaml_docs)
    assert cited("--corpus", str(flag)) == str(flag)


def test_citations_come_from_the_runs_search_results_not_the_models_text(tmp_path: Path) -> None:
    docs = documents(tmp_path / "docs")
    (docs / "boats" / "[bold]odd.md").write_text(
        "# [red]Forestay[/red] lore\n\nA forestay is a stay at the bow.\n", encoding="utf-8"
    )
    invented = "The forestay (boats/invented.md, /etc/passwd) holds the mast."
    replay = f"replay:{cassette(tmp_path, invented)}"
    done = cli("run", "--corpus", str(docs), "--model", replay, "--tools", "search", QUESTION)
    assert done.exit_code == 0, done.output
    # Named documents no search returned are not cited: every passage it read is listed.
    assert "searched (the answer names none of them):" in done.stdout
    assert "invented.md" not in done.stdout.split("answer:")[1].split("\n", 1)[1]
    assert "/etc/passwd" not in done.stdout.split("answer:")[1].split("\n", 1)[1]
    # Markup in a file's name and heading is printed as text.
    assert f"{docs}/boats/[bold]odd.md — [red]Forestay[/red] lore" in done.stdout
    assert f"{docs}/boats/rigging.md — Standing rigging" in done.stdout


def test_chat_and_eval_take_a_corpus(tmp_path: Path) -> None:
    docs = documents(tmp_path / "docs")
    replay = f"replay:{cassette(tmp_path)}"
    chat = cli("chat", "--corpus", str(docs), "--model", replay, stdin=f"{QUESTION}\n/exit\n")
    assert chat.exit_code == 0, chat.output
    assert f"indexed {docs}" in chat.stdout
    assert f"sources:\n  {docs}/boats/rigging.md — Standing rigging" in chat.stdout
    suite = tmp_path / "mine.jsonl"
    check = {"kind": "regex", "pattern": "forestay"}
    task = {"id": "mast", "prompt": QUESTION, "tools": ["search"], "check": check}
    suite.write_text(json.dumps(task) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    done = cli("eval", str(suite), "--corpus", str(docs), "--model", replay, "--out", str(out))
    assert done.exit_code == 0, done.output
    assert f"index of {docs} is current" in done.stdout
    [call] = of_type(only_trace(out), ToolCall)
    assert call.data["hits"][0]["corpus"] == str(docs)


def test_corpus_usage_errors_exit_2(tmp_path: Path) -> None:
    docs = documents(tmp_path / "docs")
    missing = cli("run", "--corpus", str(tmp_path / "nowhere"), "x")
    assert missing.exit_code == 2 and "does not exist or is not a folder" in missing.stderr
    web = cli("run", "--corpus", str(docs), "--backend", "web", "x")
    assert web.exit_code == 2 and "--corpus is for the local backend" in web.stderr
    math = cli("run", "--agent", "math", "--corpus", str(docs), "x")
    assert math.exit_code == 2 and "which this agent does not have" in math.stderr
    bad = cli("chat", "--backend", "bing")
    assert bad.exit_code == 2 and "unknown backend 'bing'" in bad.stderr
    (tmp_path / "empty").mkdir()
    replay = f"replay:{cassette(tmp_path)}"
    empty = cli("run", "--corpus", str(tmp_path / "empty"), "--model", replay, "x")
    assert empty.exit_code == 2 and "nothing to index" in empty.stderr
    (tmp_path / "agent.yaml").write_text("config: {search_corpus: docs}\n", encoding="utf-8")
    inline = cli("run", "--agent", str(tmp_path / "agent.yaml"), "x")
    assert inline.exit_code == 2 and "name the documents with `corpus:`" in inline.stderr


@pytest.mark.parametrize("terminal", [True, False])
def test_the_progress_bar_shows_on_a_terminal_only(tmp_path: Path, terminal: bool) -> None:
    docs = documents(tmp_path / "docs")
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=terminal, width=200, color_system=None)
    prepare_folders([docs], console)
    shown = buffer.getvalue()
    assert ("indexing " in shown) is terminal and ("checking " in shown) is terminal
    assert f"indexed {docs}: 2 files, 2 chunks" in shown
