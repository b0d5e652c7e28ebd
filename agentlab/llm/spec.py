"""Model specs: `openai:MODEL`, `local:NAME`, `replay:PATH`, `PROVIDER:MODEL`, or a model object.

`openai:MODEL?structured=json_object` forces a structured-output mode instead
of negotiating one with the server (`agentlab.llm.structured`). Any other
scheme is a langchain provider (`anthropic:…`, `ollama:…`), made by
`init_chat_model` when `langchain` and the provider's package are installed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import parse_qsl

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable

from agentlab import settings
from agentlab.errors import ConfigError
from agentlab.llm.structured import (
    PREFERENCES,
    ChatModelLike,
    StructuredPreference,
    inner_chat_models,
    mark_format_refusal,
)

DEFAULT_LOCAL_MODEL = "local:qwen2.5-coder-1.5b"
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
_SPEC_HELP = "openai:MODEL, local:NAME, replay:PATH or PROVIDER:MODEL (e.g. anthropic:…)"


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """A chat model and the spec it came from (written into traces)."""

    model: ChatModelLike
    spec: str
    structured: StructuredPreference | None = None
    """The structured-output mode the spec forces (`?structured=`), if any."""


def default_model_spec() -> str:
    """`AGENTLAB_MODEL` if set, else `openai:` when `OPENAI_API_KEY` is set, else the local model."""
    configured = settings.current().model
    if configured:
        return configured
    if os.environ.get("OPENAI_API_KEY"):
        return f"openai:{os.environ.get('OPENAI_MODEL', DEFAULT_OPENAI_MODEL)}"
    return DEFAULT_LOCAL_MODEL


def _spec_options(text: str, rest: str) -> tuple[str, StructuredPreference | None]:
    """`MODEL?structured=MODE` split into the model name and the mode."""
    name, sep, query = rest.partition("?")
    if not sep:
        return name, None
    options = dict(parse_qsl(query, keep_blank_values=True))
    unknown = sorted(set(options) - {"structured"})
    if unknown:
        raise ConfigError(f"model spec {text!r}: unknown option {unknown[0]!r}; known: structured")
    mode = options.get("structured")
    if mode not in PREFERENCES:
        raise ConfigError(
            f"model spec {text!r}: structured must be one of {', '.join(PREFERENCES)}"
        )
    return name, cast(StructuredPreference, mode)


def _openai(name: str, *, max_retries: int, timeout_s: float) -> BaseChatModel:
    import httpx
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
    # to model.api_error. A refused response format is marked not to be retried:
    # it selects the next structured-output mode instead.
    http_client = httpx.Client(timeout=timeout_s, event_hooks={"response": [mark_format_refusal]})
    return ChatOpenAI(
        model=name,
        api_key=api_key or "not-needed",
        base_url=os.environ.get("OPENAI_BASE_URL") or None,
        max_retries=max_retries,
        timeout=timeout_s,
        temperature=0,
        http_client=http_client,
        stream_usage=True,
    )


def _provider(scheme: str, name: str, text: str) -> BaseChatModel:
    """A langchain provider's chat model through `init_chat_model`."""
    try:
        from langchain.chat_models import init_chat_model
    except ImportError:
        raise ConfigError(
            f"unknown model backend {scheme!r} in {text!r}; use {_SPEC_HELP}. Provider specs "
            f"need langchain and the provider's package: pip install langchain langchain-{scheme}"
        ) from None
    if not name:
        raise ConfigError(f"{scheme}: needs a model name, e.g. {scheme}:MODEL")
    try:
        model: Any = init_chat_model(name, model_provider=scheme, temperature=0)
    except ImportError as exc:
        raise ConfigError(f"{text}: {exc}") from None
    except ValueError as exc:
        raise ConfigError(f"unknown model backend {scheme!r} in {text!r}: {exc}") from None
    if not isinstance(model, BaseChatModel):  # pragma: no cover - init_chat_model's contract
        raise ConfigError(f"{text}: init_chat_model did not return a chat model")
    return model


def _object_spec(model: Runnable[Any, Any]) -> ResolvedModel:
    if isinstance(model, BaseChatModel):
        return ResolvedModel(model, f"object:{type(model).__name__}")
    inner = inner_chat_models(model)
    if not inner:
        raise ConfigError(
            f"{type(model).__name__} is not a chat model: pass a langchain-core chat model, "
            "one wrapped by with_retry / with_fallbacks / bind, or a spec: " + _SPEC_HELP
        )
    names = ", ".join(type(m).__name__ for m in inner)
    return ResolvedModel(cast(ChatModelLike, model), f"object:{type(model).__name__}({names})")


def resolve_model(
    spec: str | ChatModelLike | None,
    *,
    max_retries: int = 3,
    timeout_s: float = 120.0,
) -> ResolvedModel:
    """The chat model a spec names; raises `ConfigError` with the fix when it cannot."""
    if isinstance(spec, Runnable):
        return _object_spec(spec)
    text = spec or default_model_spec()
    if not isinstance(text, str):
        raise ConfigError(
            f"a model must be a spec string or a chat model, not {type(text).__name__}"
        )
    scheme, sep, rest = text.partition(":")
    if not sep or not scheme:
        raise ConfigError(f"model spec {text!r} has no backend; use {_SPEC_HELP}")
    if scheme == "openai":
        name, structured = _spec_options(text, rest)
        model = _openai(name, max_retries=max_retries, timeout_s=timeout_s)
        return ResolvedModel(model, text, structured)
    if scheme == "replay":
        from agentlab.llm.replay import ReplayChatModel

        return ResolvedModel(ReplayChatModel(path=rest), text)
    if scheme == "local":
        from agentlab.llm.local import local_chat_model

        return ResolvedModel(local_chat_model(rest), text)
    return ResolvedModel(_provider(scheme, rest, text), text)
