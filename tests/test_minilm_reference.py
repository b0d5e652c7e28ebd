"""The numpy MiniLM gives sentence-transformers' vectors, with no torch installed.

The reference vectors were made once by sentence-transformers itself
(scripts/make_minilm_reference.py), so this test needs neither it nor torch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from agentlab.memory import MiniLMEmbeddings

REFERENCE = Path(__file__).resolve().parent / "data" / "minilm_reference.npz"


def test_numpy_minilm_matches_sentence_transformers() -> None:
    reference = np.load(REFERENCE)
    texts = [str(t) for t in reference["texts"]]
    assert len(texts) == 22 and len(texts[-1].split()) == 400  # one text past the 256 cut
    ours = MiniLMEmbeddings().encode(texts)
    assert np.abs(ours - reference["vectors"]).max() < 1e-4
