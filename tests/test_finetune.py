"""Encoder fine-tuning (optional, needs torch): the torch forward pass is the numpy one, and a
short training run moves two intents apart while the result is still a plain Embedder."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (CALLFLOWS_FINETUNE=1 bash scripts/install.sh)")

from callflows.nlu.embeddings import Embedder, shared_embedder  # noqa: E402
from callflows.nlu.finetune import _module, _pad, finetune_encoder  # noqa: E402

TEXTS = ["i lost my card", "my card was stolen", "someone took my wallet with my card", "i can't find my card",
         "what is my balance", "how much money do i have", "tell me my account balance", "how much is in checking"]
LABELS = ["lost"] * 4 + ["balance"] * 4


def test_torch_forward_equals_the_numpy_encoder():
    base = shared_embedder()
    model = _module(base._tensors_for_save, 2, 2)
    ids, mask = _pad([e.ids for e in base.tokenizer.encode_batch(TEXTS)])
    with torch.no_grad():
        x = model.layers(model.embed(torch.from_numpy(ids)), torch.from_numpy(mask), 0, 6)
        m = torch.from_numpy(mask)[:, :, None]
        pooled = torch.nn.functional.normalize((x * m).sum(1) / m.sum(1), dim=-1).numpy()
    assert np.abs(pooled - base.encode(TEXTS)).max() < 1e-4


def test_fine_tuning_separates_intents_and_returns_an_embedder():
    base = shared_embedder()

    def margin(emb) -> float:
        v = emb.encode(TEXTS)
        sim = v @ v.T
        same = np.array([[a == b for b in LABELS] for a in LABELS])
        off = ~np.eye(len(TEXTS), dtype=bool)
        return float(sim[same & off].mean() - sim[~same].mean())

    tuned = finetune_encoder(TEXTS * 4, LABELS * 4, layers=2, epochs=3, batch_size=8, lr=2e-4, log=lambda _: None)
    assert isinstance(tuned, Embedder)
    assert margin(tuned) > margin(base) + 0.05
    assert base.encode(["i lost my card"]).shape == tuned.encode(["i lost my card"]).shape == (1, 384)
