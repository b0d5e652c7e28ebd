"""The llama-cpp-python `Llama` the embedded backend loads, with two costs taken out.

Profiled on agentlab's planner prompts (1.5B coder, 2 cores), a third of every generated
token's time went to sampling and a second per call to saving the context's state:

- **Greedy sampling under a grammar.** llama-cpp-python's chain runs the grammar over the
  whole vocabulary (151,936 tokens) before picking the best, 20-25 ms a token.
  `GreedyGrammarSampler` takes the best token first and asks the grammar about that one;
  only when the grammar rejects it is the whole vocabulary masked, as before. The token
  is the same either way (the best of the tokens the grammar allows), as llama.cpp's own
  `common_sampler` does it. Sampled decoding (temperature > 0) keeps the stock chain.
- **Context states without logits.** `save_state` copied the logits buffer with the
  state (0.3 GB for a 151,936-token vocabulary) after every completion the prompt cache
  keeps. A restored state is always evaluated again before it is sampled from
  (`Llama._requires_eval`), so the copy was never read: `LeanLlama` keeps only the
  tokens and llama.cpp's own state.
"""

from __future__ import annotations

import ctypes
from typing import Any

import llama_cpp
import numpy as np
from llama_cpp import _internals

TOKEN_DATA = np.dtype([("id", np.intc), ("logit", np.single), ("p", np.single)], align=True)


class GreedyGrammarSampler:
    """Greedy decoding constrained by a grammar: the best token the grammar allows.

    Duck-types llama-cpp-python's `LlamaSampler` where `Llama.sample` calls it
    (`sample(ctx, idx)`).
    """

    def __init__(self, llama: Any, grammar: Any) -> None:
        self._chain = _internals.LlamaSampler()  # type: ignore[no-untyped-call]
        self._chain.add_grammar(llama._model, grammar)
        self._n_vocab = int(llama.n_vocab())
        self._one = (llama_cpp.llama_token_data * 1)()
        self._vocab = np.zeros(self._n_vocab, dtype=TOKEN_DATA)
        self._vocab["id"] = np.arange(self._n_vocab, dtype=np.intc)
        self.full_masks = 0
        """How many tokens needed the whole vocabulary masked (the best one was rejected)."""

    def _apply(self, data: Any, size: int) -> None:
        candidates = llama_cpp.llama_token_data_array(
            data=ctypes.cast(data, llama_cpp.llama_token_data_p),
            size=size,
            selected=-1,
            sorted=False,
        )
        llama_cpp.llama_sampler_apply(self._chain.sampler, ctypes.byref(candidates))

    def allows(self, token: int, logit: float) -> bool:
        """Whether the grammar, in its current state, lets `token` come next."""
        self._one[0].id = token  # type: ignore[assignment]
        self._one[0].logit = logit
        self._one[0].p = 0.0
        self._apply(self._one, 1)
        return bool(np.isfinite(self._one[0].logit))

    def sample(self, ctx: Any, idx: int = -1) -> int:
        pointer = llama_cpp.llama_get_logits_ith(ctx.ctx, idx)
        logits = np.ctypeslib.as_array(pointer, shape=(self._n_vocab,))
        token = int(np.argmax(logits))
        if not self.allows(token, float(logits[token])):
            self.full_masks += 1
            self._vocab["logit"] = logits
            self._vocab["p"] = 0.0
            self._apply(self._vocab.ctypes.data, self._n_vocab)
            token = int(np.argmax(self._vocab["logit"]))
        self._chain.accept(token)
        return token

    def close(self) -> None:
        self._chain.close()  # type: ignore[no-untyped-call]


def greedy_under_grammar(options: dict[str, Any]) -> bool:
    """Whether `Llama._init_sampler(**options)` builds a plain greedy chain with a grammar
    (penalties off, no logits processor): the chain `GreedyGrammarSampler` replaces."""
    return (
        options.get("temp") == 0.0
        and options.get("grammar") is not None
        and options.get("logits_processor") is None
        and options.get("repeat_penalty", 1.0) == 1.0
        and not options.get("frequency_penalty")
        and not options.get("presence_penalty")
    )


class LeanLlama(llama_cpp.Llama):
    """`llama_cpp.Llama` with grammar-first greedy sampling and states without logits."""

    def _init_sampler(self, *args: Any, **kwargs: Any) -> Any:
        if not args and greedy_under_grammar(kwargs):
            return GreedyGrammarSampler(self, kwargs["grammar"])
        return super()._init_sampler(*args, **kwargs)

    def save_state(self) -> llama_cpp.LlamaState:
        ctx = self._ctx.ctx
        size = int(llama_cpp.llama_state_get_size(ctx))
        buffer = (ctypes.c_uint8 * size)()
        written = int(llama_cpp.llama_state_get_data(ctx, buffer, size))
        if written > size:
            raise RuntimeError("llama.cpp wrote more state than it sized")
        return llama_cpp.LlamaState(
            input_ids=self.input_ids.copy(),
            scores=np.empty((0, self._n_vocab), dtype=np.single),
            n_tokens=self.n_tokens,
            llama_state=ctypes.string_at(buffer, written),
            llama_state_size=written,
            seed=self._seed,
        )

    def load_state(self, state: llama_cpp.LlamaState) -> None:
        self.input_ids = state.input_ids.copy()
        self.n_tokens = state.n_tokens
        # The logits of a restored state are not kept: the next completion evaluates
        # at least its last token again before sampling.
        self._requires_eval = True
        self._seed = state.seed
        size = state.llama_state_size
        buffer = (ctypes.c_uint8 * size).from_buffer_copy(state.llama_state)
        if llama_cpp.llama_state_set_data(self._ctx.ctx, buffer, size) != size:
            raise RuntimeError("llama.cpp did not take the saved state")
