"""agentlab's LeanLlama against llama-cpp-python's stock Llama, on a real (small) model."""

from __future__ import annotations

from typing import Any, Literal

import pytest
from pydantic import BaseModel

from agentlab.llm.local import llama_response_format, prompt_cache
from agentlab.llm.structured import json_schema_response_format
from agentlab.llm.weights import gguf_path, model_spec

pytestmark = pytest.mark.local_model


class Reasoned(BaseModel):
    n: int
    why: str


class Picked(BaseModel):
    # Values the model would not write unprompted: its best token is often rejected.
    colour: Literal["vermilion", "cerulean", "chartreuse"]
    count: Literal[17, 29]


PROMPTS = [
    ("Give n=3 and a reason", Reasoned),
    ("What is 12 times 7? Say why.", Reasoned),
    ("Name a colour and a count.", Picked),
    ("The sky is blue and there are 4 birds.", Picked),
]


@pytest.fixture(scope="module")
def llamas() -> dict[str, Any]:
    import llama_cpp

    from agentlab.llm.llama_decoding import LeanLlama

    options = {
        "model_path": str(gguf_path(model_spec("smollm2-135m"))),
        "n_ctx": 1024,
        "n_threads": 2,
        "verbose": False,
    }
    loaded = {"stock": llama_cpp.Llama(**options), "lean": LeanLlama(**options)}
    yield loaded
    for llama in loaded.values():
        llama.close()


def reply(llama: Any, prompt: str, schema: type[BaseModel], **options: Any) -> str:
    done = llama.create_chat_completion(
        messages=[{"role": "user", "content": prompt}],
        response_format=llama_response_format(json_schema_response_format(schema)),
        max_tokens=options.pop("max_tokens", 40),
        seed=0,
        **{"temperature": 0.0, **options},
    )
    return str(done["choices"][0]["message"]["content"])


def test_grammar_first_greedy_decoding_gives_the_stock_chains_tokens(
    llamas: dict[str, Any],
) -> None:
    from agentlab.llm.llama_decoding import GreedyGrammarSampler

    rejected = 0
    for prompt, schema in PROMPTS:
        stock = reply(llamas["stock"], prompt, schema)
        lean = reply(llamas["lean"], prompt, schema)
        assert lean == stock, prompt
        sampler = llamas["lean"]._sampler
        assert isinstance(sampler, GreedyGrammarSampler)
        rejected += sampler.full_masks
    # The fallback (the best token rejected, the vocabulary masked) ran and agreed too.
    assert rejected > 0


def test_sampled_decoding_keeps_llama_cpp_pythons_own_chain(llamas: dict[str, Any]) -> None:
    from agentlab.llm.llama_decoding import GreedyGrammarSampler

    text = reply(llamas["lean"], "Give n=3 and a reason", Reasoned, temperature=0.7)
    assert text.startswith("{")
    assert not isinstance(llamas["lean"]._sampler, GreedyGrammarSampler)


def test_a_saved_state_holds_no_logits_and_resumes_to_the_same_reply(
    llamas: dict[str, Any],
) -> None:
    import llama_cpp

    lean, stock = llamas["lean"], llamas["stock"]
    first = reply(lean, "Give n=5 and a reason", Reasoned)
    state = lean.save_state()
    assert state.scores.size == 0
    # The stock state copies a row of logits per token besides: more than all of ours.
    reply(stock, "Give n=5 and a reason", Reasoned)
    assert stock.save_state().scores.nbytes > 4 * state.llama_state_size
    reply(lean, "Name a colour and a count.", Picked)  # the context moves on
    lean.load_state(state)
    assert lean.n_tokens == state.n_tokens
    assert reply(lean, "Give n=5 and a reason", Reasoned) == first

    # Through the prompt cache, as the backend uses it: a prefix from another prompt's turn.
    lean.set_cache(prompt_cache(llama_cpp, capacity_bytes=1 << 30))
    try:
        again = reply(lean, "Give n=5 and a reason", Reasoned)
        reply(lean, "The sky is blue and there are 4 birds.", Picked)
        assert reply(lean, "Give n=5 and a reason", Reasoned) == again == first
    finally:
        lean.set_cache(None)
