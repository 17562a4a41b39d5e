"""Fine-tune the student's MiniLM encoder on a vertical's intents (optional; needs torch).

The frozen encoder plus TF-IDF features reaches about 90 % on Banking77. Training the encoder's
top layers for the intents moves similar requests closer in its embedding space, which the
student's linear model then uses. The result is an ordinary `Embedder` (same tensor names, same
forward pass), so the student saves it as int8 ONNX as before and needs no torch at run time.

    emb = finetune_encoder(texts, labels, layers=3, epochs=3)   # an Embedder
"""

from __future__ import annotations

import logging
import math
import random
import time
from typing import Callable, Sequence

import numpy as np

from callflows.nlu.embeddings import HIDDEN, MAX_LEN, N_HEADS, N_LAYERS, Embedder, shared_embedder

logger = logging.getLogger(__name__)


def available() -> bool:
    """torch is installed, and CALLFLOWS_FINETUNE is not 0 (0 keeps the encoder frozen)."""
    import os

    if (os.environ.get("CALLFLOWS_FINETUNE") or "").strip() == "0":
        return False
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def _module(tensors: dict[str, np.ndarray], n_labels: int, train_layers: int):
    import torch
    from torch import nn

    t = {k: torch.tensor(np.asarray(v, dtype=np.float32)) for k, v in tensors.items() if k != "embeddings.position_ids"}

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.p = nn.ParameterDict({k.replace(".", "__"): nn.Parameter(v) for k, v in t.items()})
            first_trained = N_LAYERS - train_layers
            for name, param in self.p.items():
                layer = int(name.split("__")[2]) if name.startswith("encoder__layer__") else -1
                param.requires_grad = layer >= first_trained
            self.head = nn.Linear(HIDDEN, n_labels)

        def g(self, name: str):
            return self.p[name.replace(".", "__")]

        def forward(self, ids, mask):
            return self.head_of(self.layers(self.embed(ids), mask, 0, N_LAYERS), mask)

        def embed(self, ids):
            n = ids.shape[1]
            x = self.g("embeddings.word_embeddings.weight")[ids] + self.g("embeddings.position_embeddings.weight")[:n][None] \
                + self.g("embeddings.token_type_embeddings.weight")[0]
            return nn.functional.layer_norm(x, (HIDDEN,), self.g("embeddings.LayerNorm.weight"),
                                            self.g("embeddings.LayerNorm.bias"), 1e-12)

        def layers(self, x, mask, start, end):
            b, n = mask.shape
            bias = (1.0 - mask[:, None, None, :]) * -1e4
            hd = HIDDEN // N_HEADS
            for i in range(start, end):
                p = f"encoder.layer.{i}."
                lin = lambda x, name: x @ self.g(p + name + ".weight").T + self.g(p + name + ".bias")  # noqa: E731
                q = lin(x, "attention.self.query").view(b, n, N_HEADS, hd).transpose(1, 2)
                k = lin(x, "attention.self.key").view(b, n, N_HEADS, hd).transpose(1, 2)
                v = lin(x, "attention.self.value").view(b, n, N_HEADS, hd).transpose(1, 2)
                att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + bias, -1)
                ctx = (att @ v).transpose(1, 2).reshape(b, n, HIDDEN)
                x = nn.functional.layer_norm(lin(ctx, "attention.output.dense") + x, (HIDDEN,),
                                             self.g(p + "attention.output.LayerNorm.weight"),
                                             self.g(p + "attention.output.LayerNorm.bias"), 1e-12)
                h = nn.functional.gelu(lin(x, "intermediate.dense"), approximate="tanh")
                x = nn.functional.layer_norm(lin(h, "output.dense") + x, (HIDDEN,),
                                             self.g(p + "output.LayerNorm.weight"),
                                             self.g(p + "output.LayerNorm.bias"), 1e-12)
            return x

        def head_of(self, x, mask):
            m = mask[:, :, None]
            pooled = (x * m).sum(1) / m.sum(1).clamp(min=1e-9)
            pooled = nn.functional.normalize(pooled, dim=-1)
            return self.head(pooled * 10.0)  # the student reads unit vectors; a fixed scale helps the head

    return Encoder()


def finetune_encoder(texts: Sequence[str], labels: Sequence[str], *, base: Embedder | None = None,
                     layers: int = 3, epochs: int = 3, batch_size: int = 32, lr: float = 5e-5,
                     head_lr: float = 2e-3, seed: int = 0, threads: int | None = None, max_steps: int | None = None,
                     log: Callable[[str], None] = print) -> Embedder:
    """An Embedder whose top `layers` were trained to tell `labels` apart. `max_steps` bounds the
    batches (the learning-rate schedule is fitted to the bound, so a short run still anneals)."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    base = base or shared_embedder()
    names = sorted(set(labels))
    y_all = np.array([names.index(lab) for lab in labels])
    model = _module(base._tensors_for_save, len(names), layers)
    encs = base.tokenizer.encode_batch(list(texts))
    enc_params = [p for n, p in model.p.items() if p.requires_grad]
    opt = torch.optim.AdamW([{"params": enc_params, "lr": lr}, {"params": model.head.parameters(), "lr": head_lr}],
                            weight_decay=0.01)
    steps = epochs * math.ceil(len(texts) / batch_size)
    if max_steps:
        steps = min(steps, max_steps)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, steps // 10)) * max(0.0, 1 - s / steps))
    rng = random.Random(seed)
    order = list(range(len(texts)))
    t0 = time.time()
    first = N_LAYERS - layers
    frozen: list = [None] * len(texts)  # each text's hidden states below the trained layers, computed once
    with torch.no_grad():
        by_len = sorted(order, key=lambda i: len(encs[i].ids))
        for s in range(0, len(by_len), 128):
            idx = by_len[s:s + 128]
            ids, mask = _pad([encs[i].ids for i in idx])
            x = model.layers(model.embed(torch.from_numpy(ids)), torch.from_numpy(mask), 0, first)
            for row, i in enumerate(idx):
                frozen[i] = x[row, :len(encs[i].ids[:MAX_LEN])].clone()
    log(f"[finetune] {len(texts)} texts, {len(names)} labels; frozen layers 1-{first} computed in {time.time() - t0:.0f} s; "
        f"training layers {first + 1}-{N_LAYERS}")
    step = 0
    model.train()
    for epoch in range(epochs):
        rng.shuffle(order)
        # batches of similar length (less padding), in random order
        chunks = [order[i:i + batch_size * 20] for i in range(0, len(order), batch_size * 20)]
        batches = []
        for chunk in chunks:
            chunk.sort(key=lambda i: len(encs[i].ids))
            batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
        rng.shuffle(batches)
        total = 0.0
        for idx in batches:
            if step >= steps:
                break
            n = max(frozen[i].shape[0] for i in idx)
            x = torch.zeros((len(idx), n, HIDDEN))
            mask = torch.zeros((len(idx), n))
            for row, i in enumerate(idx):
                x[row, :frozen[i].shape[0]] = frozen[i]
                mask[row, :frozen[i].shape[0]] = 1
            logits = model.head_of(model.layers(x, mask, first, N_LAYERS), mask)
            loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(y_all[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach())
            step += 1
            if step % 50 == 0:
                log(f"[finetune] epoch {epoch + 1}/{epochs} step {step}/{steps} loss {total / max(1, step - epoch * len(batches)):.3f} "
                    f"({time.time() - t0:.0f} s)")
    tensors = {k: np.asarray(v, dtype=np.float32) for k, v in base._tensors_for_save.items()}
    for name, param in model.p.items():
        tensors[name.replace("__", ".")] = param.detach().numpy().astype(np.float32)
    log(f"[finetune] {steps} steps in {time.time() - t0:.0f} s")
    return Embedder(tensors, base._tokenizer_json, base.max_len)


def _pad(seqs: list) -> tuple[np.ndarray, np.ndarray]:
    n = min(MAX_LEN, max(len(s) for s in seqs))
    ids = np.zeros((len(seqs), n), np.int64)
    mask = np.zeros((len(seqs), n), np.float32)
    for row, seq in enumerate(seqs):
        seq = seq[:n]
        ids[row, :len(seq)] = seq
        mask[row, :len(seq)] = 1
    return ids, mask
