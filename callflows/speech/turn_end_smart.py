"""Pipecat's Smart Turn v3.2 (CPU ONNX) as a ``TurnEndModel``.

The weights ship inside the ``pipecat-ai`` wheel on PyPI (``pipecat/audio/turn/smart_turn/data/
smart-turn-v3.2-cpu.onnx``, 8.7 MB; the wheel and the model are BSD-2-Clause, Copyright Daily).
Installing pipecat-ai would drag in many packages for one file, so ``fetch_smart_turn`` runs
``pip download pipecat-ai==1.14.0 --no-deps``, takes only the ONNX file out of the wheel, and
keeps it when its sha256 matches. The Whisper log-mel front end is vendored in turn_end_mel.py.
A user's own copy: a path, or ``<url>#sha256=<hex>`` (downloaded once and verified).

The model hears the last 8 s at 16 kHz; phone audio is upsampled from 8 kHz (no content above
3.4 kHz, which the model was not trained on: that is what the benchmark measures).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from . import codec
from .turn_end import TurnSnapshot
from .turn_end_mel import compute_whisper_log_mel_features

log = logging.getLogger(__name__)

WHEEL = "pipecat-ai==1.14.0"
WHEEL_MEMBER = "pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx"
SHA256 = "2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f"
WINDOW_S = 8


def default_cache_dir() -> Path:
    return Path(os.environ.get("CALLFLOWS_MODELS_DIR") or Path(__file__).resolve().parents[2] / "models" / ".cache")


def fetch_smart_turn(cache_dir: Path | None = None) -> Path:
    """The ONNX file from the pipecat-ai wheel (downloaded once with pip, sha256-checked)."""
    from callflows.models.hashing import sha256_path
    from callflows.models.manifest import ChecksumError

    dest = (cache_dir or default_cache_dir()) / "turn" / "smart-turn-v3.2-cpu.onnx"
    if dest.exists() and sha256_path(dest) == SHA256:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        log.info("downloading %s (no dependencies) for its Smart Turn model", WHEEL)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", tmp, WHEEL], check=True)
        wheel = next(Path(tmp).glob("pipecat_ai-*.whl"))
        part = dest.with_suffix(".part")
        with zipfile.ZipFile(wheel) as zf, zf.open(WHEEL_MEMBER) as src, open(part, "wb") as out:
            out.write(src.read())
    actual = sha256_path(part)
    if actual != SHA256:
        part.unlink()
        raise ChecksumError(f"{WHEEL}:{WHEEL_MEMBER}", SHA256, actual)
    part.replace(dest)
    return dest


def resolve_smart_turn(location: str | None = None) -> Path:
    """A local path, ``<url>#sha256=<hex>``, or (None) the file from the pipecat-ai wheel."""
    if not location:
        return fetch_smart_turn()
    from callflows.models.manifest import resolve_override

    return resolve_override(location, default_cache_dir() / "user")


class SmartTurnModel:
    """Smart Turn v3.2 on onnxruntime, one thread per decision by default."""

    name = "smart-turn-v3.2"

    def __init__(self, location: str | None = None, threads: int = 1, check_ms: int = 200) -> None:
        import onnxruntime as ort

        self.path = resolve_smart_turn(location)
        self.check_ms = check_ms
        options = ort.SessionOptions()
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(str(self.path), sess_options=options,
                                             providers=["CPUExecutionProvider"])

    def probability(self, snapshot: TurnSnapshot) -> float:
        audio = codec.resample(codec.pcm16_to_float(snapshot.audio), codec.PHONE_RATE, codec.WHISPER_RATE)
        window = WINDOW_S * codec.WHISPER_RATE
        audio = audio[-window:] if len(audio) > window else np.pad(audio, (window - len(audio), 0))
        features = compute_whisper_log_mel_features(audio.astype(np.float32), do_normalize=True)
        out = self._session.run(None, {"input_features": features[None, :, :]})
        return float(np.asarray(out[0]).reshape(-1)[0])
