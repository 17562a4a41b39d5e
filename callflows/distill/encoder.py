"""Which encoder a vertical's student is trained on: fine-tuned (the default) or frozen.

Fine-tuning the MiniLM encoder's top layers on the vertical's intents is what lifts Banking77
from about 91 to 92-93 % (bench/eval/README.md), so it is the default. It needs torch at build
time only: the result is exported as the same int8 ONNX graph as the frozen encoder. The
fine-tuned encoder is cached (callflows/distill/cache.py) by its own inputs (the in-scope
examples it learns from, the settings, the code, torch's version), apart from the student: a
change to another vertical's flow (this one's out-of-scope negatives) retrains the student's
linear model on the cached encoder in a minute instead of fine-tuning again.

`CALLFLOWS_FINETUNE=0` keeps the encoder frozen (small machines, no torch).
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from callflows.distill.cache import ArtifactCache, JsonValue, files_sha256, key_of
from callflows.distill.recipe import Recipe
from callflows.models.hashing import sha256_path
from callflows.nlu.embeddings import MAX_LEN, OnnxEmbedder, default_fast_embedder, default_model_dir, export_onnx

logger = logging.getLogger(__name__)

# scripts/install.sh installs exactly this CPU build (`pip install torch==2.13.0`, a wheel on this
# machine's disk); a newer pin would pull a multi-GB CUDA build. tests/test_student_cache.py checks
# the two agree.
TORCH_VERSION = "2.13.0"
_NLU = Path(__file__).resolve().parents[1] / "nlu"


class TorchMissing(RuntimeError):
    """Fine-tuning is wanted, the encoder is not cached, and torch is not installed."""


@dataclass
class EncoderPlan:
    """Which encoder a student trains on, named by the sha256 of its inputs (for the student's cache
    key and its model card), before anything is fine-tuned."""

    kind: str  # "finetuned" | "frozen"
    key: str
    card: dict[str, JsonValue] = field(default_factory=dict)


def finetune_wanted(recipe: Recipe) -> bool:
    return recipe.finetune_layers > 0 and (os.environ.get("CALLFLOWS_FINETUNE") or "").strip() != "0"


def library_versions(names: Sequence[str]) -> dict[str, JsonValue]:
    out: dict[str, JsonValue] = {}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def torch_version() -> str:
    """The installed torch's version without its build tag ("2.13.0+cpu" -> "2.13.0"); the pinned
    one when torch is not installed yet (a cached encoder can then be used without installing it)."""
    try:
        return importlib.metadata.version("torch").split("+", 1)[0]
    except importlib.metadata.PackageNotFoundError:
        return TORCH_VERSION


def base_encoder_sha() -> str:
    return sha256_path(default_model_dir())


def _torch_importable() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def _frozen_plan() -> EncoderPlan:
    parts: dict[str, JsonValue] = {
        "kind": "frozen", "base": base_encoder_sha(), "max_len": MAX_LEN,
        "code": files_sha256([_NLU / "embeddings.py"]), "libs": library_versions(["onnx", "onnxruntime", "tokenizers"]),
    }
    return EncoderPlan("frozen", key_of(parts), {"kind": "frozen"})


def plan_encoder(texts: Sequence[str], labels: Sequence[str], recipe: Recipe, cache: ArtifactCache, *,
                 require_torch: bool = False, log: Callable[[str], None] = print) -> EncoderPlan:
    """Fine-tuned on these in-scope examples (which must leave out the ones that will calibrate the
    out-of-scope threshold), or frozen when fine-tuning is off, or when torch is missing, the
    encoder is not cached and `require_torch` is not set (then `encoder_for` would fail)."""
    if not finetune_wanted(recipe):
        return _frozen_plan()
    settings: dict[str, JsonValue] = {"layers": recipe.finetune_layers, "epochs": recipe.finetune_epochs,
                                      "max_steps": recipe.finetune_max_steps, "max_len": MAX_LEN}
    if recipe.finetune_oos:  # named only when on: encoders cached before the option keep their keys
        settings["oos_class"] = True
    parts: dict[str, JsonValue] = {
        "kind": "finetuned", "base": base_encoder_sha(), "settings": settings,
        "examples": key_of({"texts": list(texts), "labels": list(labels)}),
        "code": files_sha256([_NLU / "finetune.py", _NLU / "embeddings.py"]),
        "libs": {**library_versions(["numpy", "onnx", "onnxruntime", "tokenizers"]), "torch": torch_version()},
    }
    key = key_of(parts)
    if not require_torch and cache.get(key) is None and not _torch_importable():
        log("[train] torch is not installed: the encoder stays frozen (install torch to fine-tune it)")
        return _frozen_plan()
    return EncoderPlan("finetuned", key, {"kind": "finetuned", **settings, "examples": len(texts), "encoder_key": key})


def encoder_for(plan: EncoderPlan, texts: Sequence[str], labels: Sequence[str], recipe: Recipe,
                cache: ArtifactCache, *, threads: int = 2, log: Callable[[str], None] = print) -> object:
    """The embedder of `plan`: the frozen int8 encoder; the fine-tuned one from `cache`; or
    fine-tuned now, exported as int8 ONNX and put in `cache` (the student then trains on the
    graph it will run with, read back from there). TorchMissing without torch."""
    if plan.kind == "frozen":
        return default_fast_embedder(threads=threads)
    hit = cache.get(plan.key)
    if hit is not None:
        log(f"[train] fine-tuned encoder from the cache ({hit})")
        return OnnxEmbedder(hit, threads=threads)
    if not _torch_importable():
        raise TorchMissing(f"fine-tuning needs torch=={TORCH_VERSION} (CPU); CALLFLOWS_FINETUNE=0 keeps the encoder frozen")
    from callflows.nlu import finetune

    log(f"[train] fine-tuning the encoder's top {recipe.finetune_layers} layers on {len(texts)} examples ...")
    tuned = finetune.finetune_encoder(list(texts), list(labels), layers=recipe.finetune_layers,
                                      epochs=recipe.finetune_epochs, max_steps=recipe.finetune_max_steps or None,
                                      threads=threads, log=log)
    tmp = Path(tempfile.mkdtemp(prefix="callflows-encoder-"))
    try:
        export_onnx(tuned, tmp)
        where = cache.put(plan.key, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return OnnxEmbedder(where, threads=threads)
