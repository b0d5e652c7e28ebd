"""Structured output: the strongest way each backend takes to return JSON for a schema.

Modes, strongest first:
- `json_schema`: the backend enforces the schema (`response_format` of type
  `json_schema`, strict where the schema allows it; the embedded model turns
  it into a grammar);
- `json_object`: JSON mode, with the schema in the request's `schema` field
  (llama.cpp's server makes a grammar of it; servers without the field ignore
  it) and in the prompt;
- `prompt`: the schema in the prompt only; the parser repairs and the nodes
  retry what does not parse;
- `provider`: a langchain provider's own `with_structured_output`.

An OpenAI-compatible server is tried in the first three modes in order. A
request refused because the format is unsupported is not a model failure: it
selects the next mode (the HTTP client marks such a refusal not to be retried,
so it costs no retry), and the mode that answers is remembered for the
process, per server and model.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, TypeAlias

import httpx
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import Runnable, RunnableWithFallbacks
from langchain_core.runnables.base import RunnableBindingBase
from pydantic import BaseModel

ChatModelLike: TypeAlias = Runnable[LanguageModelInput, BaseMessage]
"""A chat model, or one wrapped by `with_retry`, `with_fallbacks` or `bind`."""


class StructuredMode(StrEnum):
    """How a structured reply is asked for (see the module docstring)."""

    JSON_SCHEMA = "json_schema"
    JSON_OBJECT = "json_object"
    PROMPT = "prompt"
    PROVIDER = "provider"


StructuredPreference: TypeAlias = Literal["auto", "json_schema", "json_object", "prompt"]
"""`auto` negotiates (OpenAI-compatible servers) or uses the backend's own mode; any other
value forces that mode."""

PREFERENCES: tuple[str, ...] = ("auto", "json_schema", "json_object", "prompt")
NEGOTIATED: tuple[StructuredMode, ...] = (
    StructuredMode.JSON_SCHEMA,
    StructuredMode.JSON_OBJECT,
    StructuredMode.PROMPT,
)
OPENAI_API = "https://api.openai.com/v1"
SCHEMA_IN_PROMPT = "Reply with only a JSON object that matches this JSON schema:\n{schema}"

# What servers say when they refuse a response format (llama.cpp's server:
# "response_format.type: Input should be 'text' or 'json_object'"; OpenAI:
# "'response_format' of type 'json_schema' is not supported with this model";
# text-only servers: "Unrecognized request argument supplied: response_format").
_FORMAT_WORDS = ("response_format", "json_schema", "json_object")
_FORMAT_STATUSES = frozenset({400, 404, 415, 422, 500, 501})


def schema_json(schema: type[BaseModel]) -> dict[str, Any]:
    return schema.model_json_schema()


@functools.lru_cache(maxsize=128)
def schema_text(schema: type[BaseModel]) -> str:
    """A schema's JSON text, made once per model class (pydantic takes about a millisecond)."""
    return json.dumps(schema_json(schema))


def strict_compatible(schema: Any) -> bool:
    """Whether OpenAI's strict mode accepts `schema`: every object closed, every property
    required (pydantic models with `extra="forbid"` and no defaults)."""
    if isinstance(schema, list):
        return all(strict_compatible(item) for item in schema)
    if not isinstance(schema, dict):
        return True
    if schema.get("type") == "object" or "properties" in schema:
        properties = schema.get("properties") or {}
        if schema.get("additionalProperties") is not False:
            return False
        if set(schema.get("required") or ()) != set(properties):
            return False
    return all(strict_compatible(value) for value in schema.values())


def json_schema_response_format(schema: type[BaseModel]) -> dict[str, Any]:
    """The OpenAI `response_format` for a pydantic schema (also understood by the local backend)."""
    body = schema_json(schema)
    return {
        "type": "json_schema",
        "json_schema": {
            "name": str(body.get("title") or schema.__name__),
            "schema": body,
            "strict": strict_compatible(body),
        },
    }


def json_object_response_format(schema: type[BaseModel]) -> dict[str, Any]:
    """JSON mode with the schema in llama.cpp's `schema` field."""
    return {"type": "json_object", "schema": schema_json(schema)}


def text_of(content: Any) -> str:
    """The text of a message's content (a string, or a list of text parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part if isinstance(part, str) else str(part.get("text", ""))
            for part in content
            if isinstance(part, str | dict)
        )
    return str(content)


def schema_in_prompt(messages: list[BaseMessage], schema: type[BaseModel]) -> list[BaseMessage]:
    """`messages` with the schema appended to the last user message (or as a new one)."""
    hint = SCHEMA_IN_PROMPT.format(schema=schema_text(schema))
    if messages and isinstance(messages[-1], HumanMessage):
        last = messages[-1]
        return [*messages[:-1], HumanMessage(content=f"{text_of(last.content)}\n\n{hint}")]
    return [*messages, HumanMessage(content=hint)]


@dataclass(frozen=True, slots=True)
class StructuredRequest:
    """What is sent for one structured call in one mode."""

    mode: StructuredMode
    messages: list[BaseMessage]
    kwargs: dict[str, Any]


def structured_request(
    mode: StructuredMode,
    messages: list[BaseMessage],
    schema: type[BaseModel],
    *,
    max_tokens: int | None,
    cap_prompt: bool = False,
    legacy_cap: bool = False,
) -> StructuredRequest:
    """The messages and request options for `mode`.

    The reply cap goes where the backend enforces the schema (a capped reply still
    closes its JSON) and, with `cap_prompt`, to a server in prompt mode: a reply cut off
    there does not parse and is retried, which beats a small model writing until its
    context is full. Other chat models get no option they might not take.
    langchain-openai sends the cap as `max_completion_tokens`, which servers such as
    llama-cpp-python's do not read: with `legacy_cap` it goes as `max_tokens` too.
    """
    kwargs: dict[str, Any] = {}
    if mode is StructuredMode.JSON_SCHEMA:
        kwargs["response_format"] = json_schema_response_format(schema)
    elif mode is StructuredMode.JSON_OBJECT:
        kwargs["response_format"] = json_object_response_format(schema)
        messages = schema_in_prompt(messages, schema)
    elif mode is StructuredMode.PROMPT:
        messages = schema_in_prompt(messages, schema)
    if ("response_format" in kwargs or cap_prompt) and max_tokens is not None:
        kwargs["max_tokens"] = max_tokens
        if legacy_cap:
            kwargs["extra_body"] = {"max_tokens": max_tokens}
    return StructuredRequest(mode, messages, kwargs)


def format_unsupported_text(status: int | None, text: str) -> bool:
    """Whether an error response says the requested response format is unsupported."""
    if status is not None and status not in _FORMAT_STATUSES:
        return False
    lowered = text.lower()
    return any(word in lowered for word in _FORMAT_WORDS)


def format_unsupported(exc: BaseException) -> bool:
    """Whether a backend's exception is a refusal of the response format."""
    status = getattr(exc, "status_code", None)
    if status is None:
        return False  # no HTTP answer (timeout, refused connection): not a format refusal
    return format_unsupported_text(int(status), str(exc))


def mark_format_refusal(response: httpx.Response) -> None:
    """httpx response hook: a refused response format is not retried by the openai SDK
    (`x-should-retry: false`), so finding a server's mode costs no retries."""
    if response.status_code < 400:
        return
    response.read()
    if format_unsupported_text(response.status_code, response.text):
        response.headers["x-should-retry"] = "false"


def inner_chat_models(model: Runnable[Any, Any]) -> list[BaseChatModel]:
    """The chat models a runnable wraps (`with_retry`, `with_fallbacks`, `bind`), in order."""
    if isinstance(model, BaseChatModel):
        return [model]
    if isinstance(model, RunnableWithFallbacks):
        return [m for r in (model.runnable, *model.fallbacks) for m in inner_chat_models(r)]
    if isinstance(model, RunnableBindingBase):
        return inner_chat_models(model.bound)
    return []


def _is_openai_compatible(model: BaseChatModel) -> bool:
    try:
        from langchain_openai.chat_models.base import BaseChatOpenAI
    except ImportError:  # pragma: no cover - langchain-openai is a dependency
        return False
    return isinstance(model, BaseChatOpenAI)


def _has_own_structured_output(model: BaseChatModel) -> bool:
    cls = type(model)
    return (
        cls.with_structured_output is not BaseChatModel.with_structured_output
        or cls.bind_tools is not BaseChatModel.bind_tools
    )


def server_key(model: BaseChatModel) -> str:
    """Which server and model a negotiated mode belongs to."""
    base = getattr(model, "openai_api_base", None) or OPENAI_API
    return f"{base.rstrip('/')} {getattr(model, 'model_name', '')}"


def native_mode(model: BaseChatModel) -> StructuredMode | None:
    """The mode a chat model uses on its own; None when it is negotiated with the server."""
    if _is_openai_compatible(model):
        return None
    if getattr(model, "supports_json_schema", False):
        return StructuredMode.JSON_SCHEMA
    if _has_own_structured_output(model):
        return StructuredMode.PROVIDER
    return StructuredMode.PROMPT


_SETTLED: dict[str, StructuredMode] = {}
_SETTLED_LOCK = threading.Lock()


def remembered_mode(key: str) -> StructuredMode | None:
    with _SETTLED_LOCK:
        return _SETTLED.get(key)


def remember_mode(key: str, mode: StructuredMode | None) -> None:
    with _SETTLED_LOCK:
        if mode is None:
            _SETTLED.pop(key, None)
        else:
            _SETTLED[key] = mode


def forget_modes() -> None:
    """Forget every negotiated mode (tests start each server fresh)."""
    with _SETTLED_LOCK:
        _SETTLED.clear()


@dataclass
class StructuredOutput:
    """How one model is asked for structured replies: a fixed mode, or modes negotiated with
    its server (`server` set)."""

    fixed: StructuredMode | None = None
    server: str | None = None
    openai_compatible: bool = False
    """The model is one OpenAI-compatible server (it takes `max_tokens` in every mode)."""
    legacy_cap: bool = False
    """The server is not OpenAI's own: the reply cap goes as `max_tokens` as well."""

    @classmethod
    def for_model(
        cls, model: ChatModelLike, preference: StructuredPreference = "auto"
    ) -> StructuredOutput:
        inner = inner_chat_models(model)
        modes = {native_mode(m) for m in inner}
        compatible = len(inner) == 1 and modes == {None}
        legacy = compatible and not server_key(inner[0]).startswith(OPENAI_API)
        if preference != "auto":
            return cls(
                fixed=StructuredMode(preference), openai_compatible=compatible, legacy_cap=legacy
            )
        if compatible:
            return cls(server=server_key(inner[0]), openai_compatible=True, legacy_cap=legacy)
        if len(modes) == 1 and None not in modes:
            (mode,) = modes
            # A wrapper has no with_structured_output of its own.
            if mode is StructuredMode.PROVIDER and not isinstance(model, BaseChatModel):
                return cls(fixed=StructuredMode.PROMPT)
            return cls(fixed=mode)
        return cls(fixed=StructuredMode.PROMPT)

    @property
    def known(self) -> StructuredMode | None:
        """The mode the next call uses, if decided (fixed, or negotiated in this process)."""
        if self.fixed is not None:
            return self.fixed
        return remembered_mode(self.server) if self.server else None

    def label(self) -> str:
        """For the trace header: the mode, or `auto` while it is still to be negotiated."""
        known = self.known
        return known.value if known is not None else "auto"

    def candidates(self) -> Sequence[StructuredMode]:
        """Modes to try in order: the decided one and (when negotiated) the weaker ones."""
        if self.fixed is not None:
            return (self.fixed,)
        known = self.known
        return NEGOTIATED[NEGOTIATED.index(known) :] if known is not None else NEGOTIATED

    def settle(self, mode: StructuredMode) -> None:
        if self.server is not None:
            remember_mode(self.server, mode)

    def reject(self, mode: StructuredMode) -> None:
        """The server refused `mode`: a remembered mode that stopped working is forgotten."""
        if self.server is not None and remembered_mode(self.server) is mode:
            remember_mode(self.server, None)


def provider_reply(
    model: BaseChatModel, messages: list[BaseMessage], schema: type[BaseModel]
) -> AIMessage:
    """A provider's own structured output, as a message whose text is the JSON object."""
    structured = model.with_structured_output(schema_json(schema), include_raw=True)
    out = structured.invoke(messages)
    raw = out.get("raw") if isinstance(out, dict) else None
    parsed = out.get("parsed") if isinstance(out, dict) else out
    if parsed is not None:
        text = json.dumps(parsed.model_dump() if isinstance(parsed, BaseModel) else parsed)
    elif isinstance(raw, AIMessage) and raw.tool_calls:
        text = json.dumps(raw.tool_calls[0]["args"])
    else:
        text = text_of(raw.content) if isinstance(raw, BaseMessage) else ""
    usage = raw.usage_metadata if isinstance(raw, AIMessage) else None
    return AIMessage(content=text, usage_metadata=usage)
