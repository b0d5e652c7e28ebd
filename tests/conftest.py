"""Shared fixtures. Real model requests are blocked unless a test is marked `local_model`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from openai_fake import serve as serve  # the loopback OpenAI-compatible server fixture
from trace_walk import TraceWalk, walk_traces

from agentlab.trace import MemoryTraceSink, Tracer

ROOT = Path(__file__).resolve().parents[1]
WALK = pytest.StashKey[TraceWalk]()


@pytest.fixture(scope="session", autouse=True)
def every_trace_parses(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """Once every test has run, every trace written under the session's temporary folders
    must parse against the typed events (see `trace_walk`); the session fails otherwise."""
    yield
    walk = walk_traces(tmp_path_factory.getbasetemp())
    request.config.stash[WALK] = walk
    if walk.refused:
        listed = "\n".join(f"  {path}: {why}" for path, why in walk.refused)
        pytest.fail(
            f"{len(walk.refused)} trace(s) the tests wrote do not parse as typed events:\n{listed}",
            pytrace=False,
        )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    walk = terminalreporter.config.stash.get(WALK, None)
    if walk is not None:
        terminalreporter.write_line(
            f"traces written by the tests: {len(walk.parsed)} parsed as typed events, "
            f"{len(walk.refused)} refused"
        )


@pytest.fixture(autouse=True)
def isolated_env(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[None]:
    """No API keys, no default model, traces under a temp AGENTLAB_HOME."""
    for name in (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "AGENTLAB_MODEL",
        "AGENTLAB_DB",
        "AGENTLAB_CORPUS",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AGENTLAB_HOME", str(tmp_path / "agentlab-home"))
    if request.node.get_closest_marker("local_model") is None:
        # Tests of the model cache get their own; local_model tests use the user's cache
        # (or AGENTLAB_MODELS_DIR), so the 1 GB default model is joined once per machine.
        monkeypatch.setenv("AGENTLAB_MODELS_DIR", str(tmp_path / "models"))
        import agentlab.llm.local as local

        def blocked(name: str) -> object:
            raise AssertionError(f"test asked for local:{name} without @pytest.mark.local_model")

        monkeypatch.setattr(local, "local_chat_model", blocked)
    yield


@pytest.fixture
def memory_tracer() -> Tracer:
    return Tracer(MemoryTraceSink())
