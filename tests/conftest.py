"""Shared fixtures. Real model requests are blocked unless a test is marked `local_model`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from openai_fake import serve as serve  # the loopback OpenAI-compatible server fixture

from agentlab.trace import MemoryTraceSink, Tracer

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def isolated_env(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[None]:
    """No API keys, no default model, traces under a temp AGENTLAB_HOME."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AGENTLAB_MODEL", "AGENTLAB_DB"):
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
