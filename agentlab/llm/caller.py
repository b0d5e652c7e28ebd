"""One model call: backend-specific structured output, error mapping, tracing, recording."""

from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage
from pydantic import BaseModel

from agentlab.errors import AgentlabError, ContextOverflowError, ModelAPIError, ModelError
from agentlab.events import ModelCall
from agentlab.llm.recording import CassetteRecorder, message_dicts
from agentlab.trace import Tracer

CASSETTE_EXCLUDES = {"type", "run_id", "time", "tokens_estimated"}
"""Fields of a model call a cassette does not keep (it replays any run)."""

SCHEMA_IN_PROMPT = "Reply with only a JSON object that matches this JSON schema:\n{schema}"


@dataclass(frozen=True, slots=True)
class ModelReply:
    """A model's text reply and what it cost."""

    text: str
    tokens_in: int
    tokens_out: int
    latency_s: float
    tokens_estimated: bool


def json_schema_response_format(schema: type[BaseModel]) -> dict[str, Any]:
    """The OpenAI `response_format` for a pydantic schema (also understood by the local backend)."""
    return {
        "type": "json_schema",
        "json_schema": {
            "name": str(schema.model_json_schema().get("title") or schema.__name__),
            "schema": schema.model_json_schema(),
            "strict": False,
        },
    }


@functools.lru_cache(maxsize=128)
def _schema_text(schema: type[BaseModel]) -> str:
    """A schema's JSON text, made once per model class (pydantic takes about a millisecond)."""
    return json.dumps(schema.model_json_schema())


def supports_json_schema(model: BaseChatModel) -> bool:
    """Whether the backend enforces a JSON schema itself (OpenAI-compatible servers, llama.cpp)."""
    if getattr(model, "supports_json_schema", False):
        return True
    try:
        from langchain_openai import ChatOpenAI
    except ImportError:  # pragma: no cover - langchain-openai is a dependency
        return False
    return isinstance(model, ChatOpenAI)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part if isinstance(part, str) else str(part.get("text", ""))
            for part in content
            if isinstance(part, str | dict)
        )
    return str(content)


def _estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4)


def classify_model_exception(exc: Exception, node: str) -> ModelError:
    """Map a backend's exception to `ModelAPIError` or `ContextOverflowError`."""
    text = str(exc)
    lowered = text.lower()
    if (
        "context_length_exceeded" in lowered
        or "maximum context length" in lowered
        or "exceed context window" in lowered
    ):
        return ContextOverflowError(
            f"the prompt does not fit the model's context: {text}", node=node
        )
    kind = type(exc).__name__
    status = getattr(exc, "status_code", None)
    where = f"HTTP {status}, {kind}" if status else kind
    return ModelAPIError(f"model backend failed after retries ({where}): {text}", node=node)


class ModelCaller:
    """Calls one chat model for the nodes of an agent, and traces and records every exchange."""

    def __init__(
        self,
        model: BaseChatModel,
        *,
        name: str,
        tracer: Tracer,
        recorder: CassetteRecorder | None = None,
        max_tokens: int | None = None,
    ) -> None:
        self.model = model
        self.max_tokens = max_tokens
        self.name = name
        self.tracer = tracer
        self.recorder = recorder
        self.enforces_schema = supports_json_schema(model)

    def prepare(self, messages: list[BaseMessage], schema: type[BaseModel]) -> list[BaseMessage]:
        """The messages to send: unchanged when the backend enforces the schema, else the
        schema appended to the last user message."""
        if self.enforces_schema:
            return messages
        hint = SCHEMA_IN_PROMPT.format(schema=_schema_text(schema))
        if messages and isinstance(messages[-1], HumanMessage):
            last = messages[-1]
            return [*messages[:-1], HumanMessage(content=f"{_text_of(last.content)}\n\n{hint}")]
        return [*messages, HumanMessage(content=hint)]

    def complete(
        self,
        messages: list[BaseMessage],
        *,
        schema: type[BaseModel] | None,
        node: str,
        run_id: str,
    ) -> ModelReply:
        """One request; raises `ModelError` when the backend fails."""
        kwargs: dict[str, Any] = {}
        if schema is not None:
            messages = self.prepare(messages, schema)
            if self.enforces_schema:
                kwargs["response_format"] = json_schema_response_format(schema)
                if self.max_tokens is not None:
                    kwargs["max_tokens"] = self.max_tokens
        started = time.perf_counter()
        try:
            reply = self.model.invoke(messages, **kwargs)
        except AgentlabError as exc:
            if isinstance(exc, ModelError):
                exc.node = exc.node or node
            raise
        except Exception as exc:
            raise classify_model_exception(exc, node) from exc
        latency = time.perf_counter() - started
        text = _text_of(reply.content)
        usage = getattr(reply, "usage_metadata", None)
        estimated = not usage
        tokens_in = (
            int(usage["input_tokens"])
            if usage
            else sum(_estimate_tokens(_text_of(m.content)) for m in messages)
        )
        tokens_out = int(usage["output_tokens"]) if usage else _estimate_tokens(text)
        call = ModelCall(
            run_id=run_id,
            node=node,
            model=self.name,
            messages=message_dicts(messages),
            reply=text,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            latency_s=round(latency, 4),
            tokens_estimated=estimated,
        )
        self.tracer.write(call)
        if self.recorder is not None:
            self.recorder.record(**call.model_dump(exclude=CASSETTE_EXCLUDES))
        return ModelReply(text, tokens_in, tokens_out, latency, estimated)
