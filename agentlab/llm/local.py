"""The embedded llama.cpp backend (`local:NAME`)."""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel

from agentlab.errors import ConfigError


def local_chat_model(name: str) -> BaseChatModel:
    raise ConfigError(f"local:{name}: the embedded model backend is not available yet")
