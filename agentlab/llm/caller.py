"""One model call: structured output per backend, error mapping, tracing, recording, caching."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from openai import LengthFinishReasonError
from pydantic import BaseModel

from agentlab.errors import AgentlabError, ContextOverflowError, ModelAPIError, ModelError
from agentlab.events import ModelCall, StructuredOutputChosen
from agentlab.llm.recording import CassetteRecorder, message_dicts
from agentlab.llm.response_cache import CachedReply, ResponseCache, model_identity, request_key
from agentlab.llm.structured import (
    SCHEMA_IN_PROMPT,
    ChatModelLike,
    StructuredMode,
    StructuredOutput,
    StructuredPreference,
    StructuredRequest,
    format_unsupported,
    json_schema_response_format,
    provider_reply,
    schema_json,
    structured_request,
    text_of,
)
from agentlab.trace import Tracer

CASSETTE_EXCLUDES = {"type", "run_id", "time", "tokens_estimated", "structured", "cached"}
"""Fields of a model call a cassette does not keep (it replays any run); `finish_reason` is
kept, so a reply that was cut off replays as cut off."""

__all__ = [
    "SCHEMA_IN_PROMPT",
    "ModelCaller",
    "ModelReply",
    "classify_model_exception",
    "json_schema_response_format",
]


@dataclass(frozen=True, slots=True)
class ModelReply:
    """A model's text reply and what it cost."""

    text: str
    tokens_in: int
    tokens_out: int
    latency_s: float
    tokens_estimated: bool
    structured: StructuredMode | None = None
    """How the structured reply was asked for (None for a plain call)."""
    cached: bool = False
    """Served by the response cache: no model call was made."""
    finish_reason: str | None = None
    """Why generation stopped, when the backend says; `length`: cut off at the token limit."""

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


@dataclass(frozen=True, slots=True)
class Decoding:
    """How one reply is decoded when it differs from the caller's defaults."""

    max_tokens: int | None = None
    """Room for this reply (else the caller's `max_tokens`)."""
    temperature: float | None = None
    """Sample at this temperature (else the model's own setting: greedy for agentlab's)."""
    seed: int = 0


_MODES = frozenset(m.value for m in StructuredMode)


def _cut_off_reply(exc: Exception) -> AIMessage | None:
    """The reply inside openai's `LengthFinishReasonError` (its parse helpers raise when a
    structured reply reaches the token limit): still a reply, recorded as truncated by the
    caller (`model.output_truncated`), not a backend failure."""
    if not isinstance(exc, LengthFinishReasonError):
        return None
    completion = getattr(exc, "completion", None)
    choices = getattr(completion, "choices", None) or []
    message = getattr(choices[0], "message", None) if choices else None
    text = str(getattr(message, "content", None) or "")
    usage = getattr(completion, "usage", None)
    metadata: UsageMetadata | None = None
    if usage is not None:
        tokens_in, tokens_out = int(usage.prompt_tokens), int(usage.completion_tokens)
        metadata = UsageMetadata(
            input_tokens=tokens_in, output_tokens=tokens_out, total_tokens=tokens_in + tokens_out
        )
    return AIMessage(
        content=text, response_metadata={"finish_reason": "length"}, usage_metadata=metadata
    )


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
    """Calls one chat model for the nodes of an agent, and traces and records every exchange.

    Structured calls go in the strongest mode the backend takes (`StructuredOutput`); with
    a `cache`, a request seen before is answered from it without a model call, and the
    hits and misses of each run are counted for its footer.
    """

    def __init__(
        self,
        model: ChatModelLike,
        *,
        name: str,
        tracer: Tracer,
        recorder: CassetteRecorder | None = None,
        max_tokens: int | None = None,
        structured: StructuredPreference = "auto",
        cache: ResponseCache | None = None,
    ) -> None:
        self.model = model
        self.max_tokens = max_tokens
        self.name = name
        self.tracer = tracer
        self.recorder = recorder
        self.structured = StructuredOutput.for_model(model, structured)
        self.cache = cache
        self._identity = model_identity(name, model) if cache is not None else []
        self._cache_counts: dict[str, list[int]] = {}
        self._counts_lock = threading.Lock()

    def complete(
        self,
        messages: list[BaseMessage],
        *,
        schema: type[BaseModel] | None,
        node: str,
        run_id: str,
        decoding: Decoding | None = None,
    ) -> ModelReply:
        """One request; raises `ModelError` when the backend fails. `decoding` overrides
        the room and asks for a sampled reply."""
        decoding = decoding or Decoding()
        key = self._cache_key(messages, schema, decoding)
        if key is not None and (hit := self._cached(key, messages, node, run_id)) is not None:
            return hit
        started = time.perf_counter()
        try:
            reply, sent, mode = self._ask(messages, schema, run_id, decoding)
        except AgentlabError as exc:
            if isinstance(exc, ModelError):
                exc.node = exc.node or node
            raise
        except Exception as exc:
            raise classify_model_exception(exc, node) from exc
        latency = time.perf_counter() - started
        text = text_of(reply.content)
        usage = getattr(reply, "usage_metadata", None)
        estimated = not usage
        tokens_in = (
            int(usage["input_tokens"])
            if usage
            else sum(_estimate_tokens(text_of(m.content)) for m in sent)
        )
        tokens_out = int(usage["output_tokens"]) if usage else _estimate_tokens(text)
        finish = (getattr(reply, "response_metadata", None) or {}).get("finish_reason")
        answer = ModelReply(
            text, tokens_in, tokens_out, latency, estimated, mode, False, finish and str(finish)
        )
        self._log(node, run_id, sent, answer)
        if key is not None and self.cache is not None and not answer.truncated:
            self.cache.put(key, CachedReply(text, tokens_in, tokens_out, mode))
        return answer

    def cache_counts(self, run_id: str) -> dict[str, int] | None:
        """The run's cache hits and misses (None without a cache); forgets them."""
        if self.cache is None:
            return None
        with self._counts_lock:
            hits, misses = self._cache_counts.pop(run_id, [0, 0])
        return {"hits": hits, "misses": misses}

    def _ask(
        self,
        messages: list[BaseMessage],
        schema: type[BaseModel] | None,
        run_id: str,
        decoding: Decoding,
    ) -> tuple[BaseMessage, list[BaseMessage], StructuredMode | None]:
        """The reply, the messages sent, and the structured mode that produced it.

        A refusal of the response format moves on to the next mode while the mode is
        being negotiated; the mode that answers is remembered for the server.
        """
        sampling: dict[str, Any] = (
            {"temperature": decoding.temperature, "seed": decoding.seed}
            if decoding.temperature is not None
            else {}
        )
        if schema is None:
            return self.model.invoke(messages, **sampling), messages, None
        candidates = self.structured.candidates()
        negotiating = self.structured.fixed is None and self.structured.server is not None
        remembered = self.structured.known
        rejected: list[dict[str, str]] = []
        for index, mode in enumerate(candidates):
            request = structured_request(
                mode,
                messages,
                schema,
                max_tokens=decoding.max_tokens or self.max_tokens,
                cap_prompt=self.structured.openai_compatible,
                legacy_cap=self.structured.legacy_cap,
            )
            request.kwargs.update(sampling)
            try:
                reply = self._invoke(request, schema)
            except Exception as exc:
                last = index == len(candidates) - 1
                if not negotiating or last or not format_unsupported(exc):
                    raise
                self.structured.reject(mode)
                rejected.append({"mode": mode.value, "error": str(exc)[:300]})
                continue
            if negotiating and (rejected or remembered is None):
                self.structured.settle(mode)
                self.tracer.write(
                    StructuredOutputChosen(
                        run_id=run_id,
                        mode=mode.value,
                        server=self.structured.server,
                        rejected=rejected,
                    )
                )
            return reply, request.messages, mode
        raise AssertionError("unreachable: the last mode re-raises")  # pragma: no cover

    def _invoke(self, request: StructuredRequest, schema: type[BaseModel]) -> BaseMessage:
        if request.mode is StructuredMode.PROVIDER and isinstance(self.model, BaseChatModel):
            return provider_reply(self.model, request.messages, schema)
        try:
            return self.model.invoke(request.messages, **request.kwargs)
        except Exception as exc:
            cut = _cut_off_reply(exc)
            if cut is None:
                raise
            return cut

    def _cache_key(
        self, messages: list[BaseMessage], schema: type[BaseModel] | None, decoding: Decoding
    ) -> str | None:
        if self.cache is None:
            return None
        fixed = self.structured.fixed
        settings = {
            "max_tokens": decoding.max_tokens or self.max_tokens,
            "structured": fixed.value if fixed else "auto",
            "temperature": decoding.temperature,
            "seed": decoding.seed if decoding.temperature is not None else None,
        }
        return request_key(
            self._identity, messages, schema_json(schema) if schema else None, settings
        )

    def _count(self, run_id: str, *, hit: bool) -> None:
        with self._counts_lock:
            counts = self._cache_counts.setdefault(run_id, [0, 0])
            counts[0 if hit else 1] += 1

    def _cached(
        self, key: str, messages: list[BaseMessage], node: str, run_id: str
    ) -> ModelReply | None:
        """The cached reply for `key`, traced like a call (`cached: true`), or None."""
        found = self.cache.get(key) if self.cache is not None else None
        self._count(run_id, hit=found is not None)
        if found is None:
            return None
        mode = StructuredMode(found.structured) if found.structured in _MODES else None
        answer = ModelReply(found.text, found.tokens_in, found.tokens_out, 0.0, False, mode, True)
        self._log(node, run_id, messages, answer)
        return answer

    def _log(self, node: str, run_id: str, messages: list[BaseMessage], reply: ModelReply) -> None:
        """Trace the exchange (and record it in the cassette, when recording)."""
        call = ModelCall(
            run_id=run_id,
            node=node,
            model=self.name,
            messages=message_dicts(messages),
            reply=reply.text,
            tokens_in=reply.tokens_in,
            tokens_out=reply.tokens_out,
            latency_s=round(reply.latency_s, 4),
            tokens_estimated=reply.tokens_estimated,
            structured=reply.structured.value if reply.structured else None,
            cached=reply.cached,
            finish_reason=reply.finish_reason,
        )
        self.tracer.write(call)
        if self.recorder is not None:
            self.recorder.record(**call.model_dump(exclude=CASSETTE_EXCLUDES))
