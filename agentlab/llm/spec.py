"""Model specs: `openai:MODEL`, `local:NAME`, `replay:PATH`, or a chat model object."""

from __future__ import annotations

import os
from dataclasses import dataclass

from langchain_core.language_models import BaseChatModel

from agentlab import settings
from agentlab.errors import ConfigError

DEFAULT_LOCAL_MODEL = "local:qwen2.5-coder-1.5b"
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """A chat model and the spec it came from (written into traces)."""

    model: BaseChatModel
    spec: str


def default_model_spec() -> str:
    """`AGENTLAB_MODEL` if set, else `openai:` when `OPENAI_API_KEY` is set, else the local model."""
    configured = settings.current().model
    if configured:
        return configured
    if os.environ.get("OPENAI_API_KEY"):
        return f"openai:{os.environ.get('OPENAI_MODEL', DEFAULT_OPENAI_MODEL)}"
    return DEFAULT_LOCAL_MODEL


def _openai(name: str, *, max_retries: int, timeout_s: float) -> BaseChatModel:
    from langchain_openai import ChatOpenAI

    if not name:
        raise ConfigError("openai: needs a model name, e.g. openai:gpt-4o-mini")
    api_key = os.environ.get("OPENAI_API_KEY")
    if not api_key and not os.environ.get("OPENAI_BASE_URL"):
        raise ConfigError(
            "openai: needs OPENAI_API_KEY (or OPENAI_BASE_URL for a local OpenAI-compatible server)"
        )
    # The openai SDK retries 429, 5xx, timeouts and refused connections with
    # exponential backoff (honouring Retry-After); agentlab maps the last failure
    # to model.api_error.
    return ChatOpenAI(
        model=name,
        api_key=api_key or "not-needed",
        base_url=os.environ.get("OPENAI_BASE_URL") or None,
        max_retries=max_retries,
        timeout=timeout_s,
        temperature=0,
    )


def resolve_model(
    spec: str | BaseChatModel | None,
    *,
    max_retries: int = 3,
    timeout_s: float = 120.0,
) -> ResolvedModel:
    """The chat model a spec names; raises `ConfigError` with the fix when it cannot."""
    if isinstance(spec, BaseChatModel):
        return ResolvedModel(spec, f"object:{type(spec).__name__}")
    text = spec or default_model_spec()
    scheme, sep, rest = text.partition(":")
    if not sep:
        raise ConfigError(
            f"model spec {text!r} has no backend; use openai:MODEL, local:NAME or replay:PATH"
        )
    if scheme == "openai":
        return ResolvedModel(_openai(rest, max_retries=max_retries, timeout_s=timeout_s), text)
    if scheme == "replay":
        from agentlab.llm.replay import ReplayChatModel

        return ResolvedModel(ReplayChatModel(path=rest), text)
    if scheme == "local":
        from agentlab.llm.local import local_chat_model

        return ResolvedModel(local_chat_model(rest), text)
    raise ConfigError(
        f"unknown model backend {scheme!r} in {text!r}; use openai:MODEL, local:NAME or replay:PATH"
    )
