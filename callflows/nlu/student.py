"""The per-vertical student: intent classifier + slot tagger + out-of-scope detection, CPU only.

Model (chosen by the evaluation in callflows/eval, see bench/eval/README.md):
- features: frozen all-MiniLM-L6-v2 sentence embedding (int8 ONNX, 384 dims, weighted) concatenated
  with TF-IDF word 1-2-grams and character 2-5-grams (word bounded);
- intents: multinomial logistic regression over those features;
- out of scope: an explicit "out_of_scope" class trained on negatives (e.g. CLINC150 oos_train and
  generic off-topic sentences) plus a threshold on the top in-scope probability, set on a held-out
  tenth of the training data so that at most `oos_false_reject` of in-scope examples are rejected;
  `rank` returns IntentScore("out_of_scope", p) first when either fires;
- slots: BIO tagger, per-word logistic regression over hashed hand features (word, neighbours,
  shape, number/month/weekday cues) and the word's contextual MiniLM state (first word piece).
  `tag(text)` gives [(slot, start, end)] character spans; the deterministic value parsers
  (callflows.nlu.values) normalise them.

    student = StudentModel().fit(texts, labels, oos_texts=negatives)
    student.fit_tagger([(text, [(slot, start, end), ...]), ...])
    student.rank("i lost my card")           # [IntentScore("lost_or_stolen_card", 0.93), ...]
    student.tag("a table for 4 on friday")   # [("people", 12, 13), ("date", 17, 23)]
    student.save("verticals/retail_bank/student"); StudentModel.load(...)

On disk (< 50 MB): encoder_int8.onnx + tokenizer.json (about 23 MB), student.pkl (vectorisers and
weights, float32), MODEL_CARD.md and card.json (data sha256, size, metrics, date).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import pickle
import re
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction import FeatureHasher
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from callflows.nlu.classifier import IntentScore
from callflows.nlu.student_card import write_card

OOS = "out_of_scope"
# The share of held-out in-scope examples the out-of-scope threshold may reject. Chosen on
# carve-outs of the training splits by bench/eval/select_oos.py (select_oos.json): 0.02 kept the
# most Banking77 answers among the shares with CLINC150 out-of-scope recall >= 0.85.
OOS_FALSE_REJECT = 0.02
Span = tuple[str, int, int]
PICKLE = "student.pkl"
FORMAT_VERSION = 1

# generic off-topic sentences, used as out-of-scope negatives in addition to what the caller passes
GENERIC_NEGATIVES = (
    "what is the weather like tomorrow", "tell me a joke", "who won the game last night",
    "play some music", "what is the capital of france", "how tall is mount everest",
    "set an alarm for seven", "what's a good recipe for lasagna", "translate hello into spanish",
    "how many calories in an apple", "what movies are playing tonight", "who wrote hamlet",
    "turn on the lights", "what is the meaning of life", "how do i fix my car's engine",
    "recommend a good book", "what time is it in tokyo", "how far is the moon",
    "can you sing a song", "what's the score of the football match", "order me a pizza",
    "how do i learn to play guitar", "is it going to rain", "what's trending on twitter",
    "how old is the president", "define the word ephemeral", "find me a flight to paris",
    "what is two plus two", "tell me about dinosaurs", "how do volcanoes work",
)

_TOKEN = re.compile(r"\w+(?:'\w+)?|[^\w\s]")
_MONTHS = frozenset("january february march april may june july august september october november december "
                    "jan feb mar apr jun jul aug sep sept oct nov dec".split())
_WEEKDAYS = frozenset("monday tuesday wednesday thursday friday saturday sunday".split())
_NUMWORDS = frozenset("zero oh one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
                      "fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty "
                      "ninety hundred thousand million half quarter couple few".split())
_ORDWORDS = frozenset("first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth "
                      "fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth thirtieth".split())
_TIMEWORDS = frozenset("am pm morning afternoon evening night noon midnight o'clock oclock tonight today tomorrow "
                       "yesterday week weekend month year day days nights weeks".split())


def tokenize_words(text: str) -> list[tuple[str, int, int]]:
    """Words and punctuation marks with character spans."""
    return [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def _shape(w: str) -> str:
    s = re.sub(r"[A-Z]", "A", w)
    s = re.sub(r"[a-z]", "a", s)
    s = re.sub(r"[0-9]", "9", s)
    return re.sub(r"(.)\1+", r"\1\1", s)


def _word_features(words: list[str], i: int) -> list[str]:
    w = words[i].lower()
    f = [f"w={w}", f"shape={_shape(words[i])}", f"suf3={w[-3:]}", f"pre2={w[:2]}", "bias"]
    for tag, vocab in (("month", _MONTHS), ("wday", _WEEKDAYS), ("num", _NUMWORDS), ("ord", _ORDWORDS),
                       ("timew", _TIMEWORDS)):
        if w in vocab:
            f.append(f"is_{tag}")
    if any(c.isdigit() for c in w):
        f.append("has_digit")
    if re.fullmatch(r"\d+(st|nd|rd|th)", w):
        f.append("is_ord")
    if w in "$£€":
        f.append("is_currency")
    for d in (-3, -2, -1, 1, 2, 3):
        j = i + d
        if 0 <= j < len(words):
            v = words[j].lower()
            f.append(f"w{d:+d}={v}")
            if abs(d) == 1:
                for tag, vocab in (("month", _MONTHS), ("num", _NUMWORDS), ("timew", _TIMEWORDS)):
                    if v in vocab:
                        f.append(f"{d:+d}is_{tag}")
                if any(c.isdigit() for c in v):
                    f.append(f"{d:+d}has_digit")
        else:
            f.append(f"w{d:+d}=<pad>")
    if i > 0:
        f.append(f"bigram-1={words[i-1].lower()}_{w}")
    return f


def sha256_of(items: Iterable[Any]) -> str:
    h = hashlib.sha256()
    for item in items:
        h.update(json.dumps(item, sort_keys=True, ensure_ascii=False).encode())
        h.update(b"\n")
    return h.hexdigest()


def calibration_holdout(labels: Sequence[str], groups: Sequence[int] | None = None, seed: int = 0) -> np.ndarray:
    """Which in-scope examples set the out-of-scope threshold (a boolean mask over `labels`).

    A tenth of each intent's examples (at least one if it has 3+), drawn by `groups`: examples that
    share a group id (an utterance and its ASR-style copies) land on the same side, so the
    threshold is never set on a copy of something the model was trained on. Intents are visited in
    sorted order, so every process draws the same split (set order changes with Python's hash
    seed). An encoder fine-tuned before `fit` must leave these examples out too (see
    callflows/distill/train.py and the evaluation)."""
    labels_a = np.asarray(list(labels), dtype=object)
    groups_a = np.arange(len(labels_a)) if groups is None else np.asarray(list(groups))
    if len(groups_a) != len(labels_a):
        raise ValueError(f"{len(groups_a)} group ids for {len(labels_a)} examples")
    rng = np.random.default_rng(seed)
    held = np.zeros(len(labels_a), bool)
    for lab in sorted(set(labels_a.tolist())):
        idx = np.flatnonzero(labels_a == lab)
        ids = np.unique(groups_a[idx])
        k = len(ids) // 10 if len(ids) >= 10 else (1 if len(ids) >= 3 else 0)
        chosen = rng.choice(ids, k, replace=False)
        held[idx[np.isin(groups_a[idx], chosen)]] = True
    return held


def paired_groups(originals: int) -> list[int]:
    """Group ids for `originals` utterances followed by one ASR-style copy of each, in the same order."""
    return list(range(originals)) * 2


class StudentModel:
    """Intent classifier (IntentClassifier protocol) + slot tagger + OOS detection."""

    oos_label = OOS

    def __init__(self, embedder: Any = None, use_embeddings: bool = True, embedding_weight: float = 2.0,
                 c: float = 10.0, oos_false_reject: float = OOS_FALSE_REJECT, tagger_c: float = 1.0):
        self.use_embeddings = use_embeddings
        self.embedding_weight = embedding_weight
        self.c = c
        self.oos_false_reject = oos_false_reject
        self.tagger_c = tagger_c
        self._embedder = embedder
        self.words: TfidfVectorizer | None = None
        self.chars: TfidfVectorizer | None = None
        self.model: bool | None = None  # True once trained
        self.labels: list[str] = []
        self.threshold = 0.0
        self.tagger: bool | None = None  # True once trained
        self.tag_labels: list[str] = []
        self.hasher = FeatureHasher(n_features=2 ** 15, input_type="string", alternate_sign=False, dtype=np.float32)
        # weights as plain float32 blocks (sparse @ dense is ~20x faster than sklearn's sparse coef path)
        self.w_words = self.w_chars = self.w_emb = self.b_intent = None
        self.t_sparse = self.t_dense = self.t_bias = None
        self.card: dict[str, Any] = {}
        self._cache: tuple[str, Any] | None = None
        self._allowed: np.ndarray | None = None

    # ---- embeddings -----------------------------------------------------------------------------
    @property
    def embedder(self):
        if self._embedder is None:
            from callflows.nlu.embeddings import default_fast_embedder

            self._embedder = default_fast_embedder()
        return self._embedder

    def _token_states(self, texts: Sequence[str]) -> list:
        """(pooled, hidden, offsets) per text; the last single text is cached (rank + tag share it)."""
        if len(texts) == 1 and self._cache is not None and self._cache[0] == texts[0]:
            return [self._cache[1]]
        out = self.embedder.encode_tokens(list(texts))
        if len(texts) == 1:
            self._cache = (texts[0], out[0])
        return out

    def _sentence_vectors(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) == 1:
            return self._token_states(texts)[0][0][None]
        return self.embedder.encode(list(texts))

    def _features(self, texts: Sequence[str], vectors: np.ndarray | None = None) -> sp.csr_matrix:
        assert self.words is not None and self.chars is not None
        blocks = [self.words.transform(texts), self.chars.transform(texts)]
        if self.use_embeddings:
            if vectors is None:
                vectors = self._sentence_vectors(texts)
            blocks.append(sp.csr_matrix(vectors * self.embedding_weight))
        return sp.hstack(blocks, format="csr")

    # ---- intents --------------------------------------------------------------------------------
    def fit(self, texts: Sequence[str], labels: Sequence[str], oos_texts: Sequence[str] = (),
            generic_negatives: bool = True, calibrate: bool = True, seed: int = 0,
            vectors: np.ndarray | None = None, groups: Sequence[int] | None = None) -> "StudentModel":
        """Train the intent model. `oos_texts` are out-of-scope negatives (their label is OOS).

        `vectors`: precomputed sentence embeddings for texts + oos_texts + generic negatives, in that
        order (an evaluation shares them between models). `groups`: one id per text; texts with the
        same id (an utterance and its ASR-style copies) stay together when the threshold's
        held-out tenth is drawn (`calibration_holdout`)."""
        texts, labels = list(texts), list(labels)
        if len(set(labels)) < 2:
            raise ValueError("an intent classifier needs examples of at least two intents")
        negatives = list(oos_texts) + (list(GENERIC_NEGATIVES) if (oos_texts or generic_negatives) else [])
        all_texts = texts + negatives
        all_labels = np.array(labels + [OOS] * len(negatives))
        if self.use_embeddings and vectors is None:
            vectors = self.embedder.encode(all_texts)
        self.threshold = 0.0
        if calibrate and self.oos_false_reject > 0 and len(texts) >= 40:
            held = np.concatenate([calibration_holdout(labels, groups, seed), np.zeros(len(negatives), bool)])
            self._fit_intents([all_texts[i] for i in np.flatnonzero(~held)], all_labels[~held],
                              None if vectors is None else vectors[~held])
            probs = self._proba([all_texts[i] for i in np.flatnonzero(held)], None if vectors is None else vectors[held])
            in_cols = [j for j, lab in enumerate(self.labels) if lab != OOS]
            top_in = probs[:, in_cols].max(1)
            self.threshold = float(np.quantile(top_in, self.oos_false_reject))
        self._fit_intents(all_texts, all_labels, vectors)
        self.card.setdefault("training", {}).update({
            "intent_examples": len(texts), "intents": len(set(labels)), "oos_negatives": len(negatives),
            "oos_threshold": round(self.threshold, 4),
            "intent_data_sha256": sha256_of(zip(all_texts, all_labels.tolist())),
        })
        return self

    def _fit_intents(self, texts: list[str], labels: np.ndarray, vectors: np.ndarray | None) -> None:
        self.words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"(?u)\b\w+\b",
                                     min_df=1, dtype=np.float32)
        self.chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2,
                                     dtype=np.float32)
        self.words.fit(texts)
        self.chars.fit(texts)
        x = self._features(texts, vectors)
        n_oos = int((labels == OOS).sum())
        weights = np.ones(len(labels), np.float32)
        if n_oos:  # the OOS class should not outweigh a typical intent by much
            counts = [int((labels == lab).sum()) for lab in set(labels.tolist()) if lab != OOS]
            weights[labels == OOS] = min(1.0, 2.0 * float(np.median(counts)) / n_oos)
        model = LogisticRegression(C=self.c, max_iter=1000, tol=1e-3)
        model.fit(x, labels, sample_weight=weights)
        self.labels = [str(c) for c in model.classes_]
        w = model.coef_.T.astype(np.float32)
        nw, nc = len(self.words.vocabulary_), len(self.chars.vocabulary_)
        self.w_words, self.w_chars = np.ascontiguousarray(w[:nw]), np.ascontiguousarray(w[nw:nw + nc])
        self.w_emb = np.ascontiguousarray(w[nw + nc:] * self.embedding_weight) if self.use_embeddings else None
        self.b_intent = model.intercept_.astype(np.float32)
        self.model = True  # trained

    def _proba(self, texts: Sequence[str], vectors: np.ndarray | None = None) -> np.ndarray:
        if self.model is None:
            raise RuntimeError("student is not trained")
        texts = list(texts)
        z = self.words.transform(texts) @ self.w_words + self.chars.transform(texts) @ self.w_chars + self.b_intent
        if self.use_embeddings:
            if vectors is None:
                vectors = self._sentence_vectors(texts)
            z = z + vectors @ self.w_emb
        z = np.asarray(z, dtype=np.float64)
        z -= z.max(1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(1, keepdims=True)

    def _ranking(self, probs: np.ndarray, top: int) -> list[IntentScore]:
        order = np.argsort(probs)[::-1]
        ranking = [IntentScore(self.labels[i], float(probs[i])) for i in order if self.labels[i] != OOS]
        p_oos = float(probs[self.labels.index(OOS)]) if OOS in self.labels else 0.0
        top_in = ranking[0].confidence if ranking else 0.0
        if OOS in self.labels and (p_oos > top_in or top_in < self.threshold):
            return [IntentScore(OOS, max(p_oos, 1.0 - top_in))] + ranking[: top - 1]
        return ranking[:top]

    def rank(self, text: str, top: int = 5) -> list[IntentScore]:
        return self._ranking(self._proba([text])[0], top)

    def rank_batch(self, texts: Sequence[str], top: int = 5, vectors: np.ndarray | None = None) -> list[list[IntentScore]]:
        probs = self._proba(list(texts), vectors)
        return [self._ranking(p, top) for p in probs]

    def predict(self, texts: Sequence[str], vectors: np.ndarray | None = None) -> list[str]:
        return [r[0].intent for r in self.rank_batch(texts, top=1, vectors=vectors)]

    # ---- slots ----------------------------------------------------------------------------------
    def _tag_rows(self, text: str, state: Any) -> tuple[list[tuple[str, int, int]], sp.csr_matrix, np.ndarray | None]:
        toks = tokenize_words(text)
        words = [t[0] for t in toks]
        sparse = self.hasher.transform([_word_features(words, i) for i in range(len(words))]).tocsr()
        if not self.use_embeddings or state is None:
            return toks, sparse, None
        _, hidden, offsets = state
        dense = np.zeros((len(toks), hidden.shape[1]), np.float32)
        k = 0
        for i, (_, s, e) in enumerate(toks):  # first word piece overlapping the word
            while k < len(offsets) and (offsets[k][1] <= s or offsets[k] == (0, 0)):
                k += 1
            if k < len(offsets) and offsets[k][0] < e:
                dense[i] = hidden[k]
        return toks, sparse, dense

    def fit_tagger(self, examples: Sequence[tuple[str, Sequence[Span]]], states: Sequence[Any] | None = None) -> "StudentModel":
        """BIO per-word tagger from (text, [(slot, start, end)]) examples."""
        examples = list(examples)
        if self.use_embeddings and states is None:
            states = self.embedder.encode_tokens([t for t, _ in examples])
        rows, ys = [], []
        for n, (text, spans) in enumerate(examples):
            toks, xs, xd = self._tag_rows(text, states[n] if states is not None else None)
            x = xs if xd is None else sp.hstack([xs, sp.csr_matrix(xd)], format="csr")
            y = ["O"] * len(toks)
            for slot, s, e in spans:
                inside = [i for i, (_, ts, te) in enumerate(toks) if ts < e and te > s]
                for j, i in enumerate(inside):
                    y[i] = ("B-" if j == 0 else "I-") + slot
            rows.append(x)
            ys += y
        tagger = LogisticRegression(C=self.tagger_c, max_iter=1000, tol=1e-3)
        tagger.fit(sp.vstack(rows, format="csr"), ys)
        self.tag_labels = [str(c) for c in tagger.classes_]
        w = tagger.coef_.T.astype(np.float32)
        nh = self.hasher.n_features
        self.t_sparse, self.t_dense = np.ascontiguousarray(w[:nh]), (np.ascontiguousarray(w[nh:]) if w.shape[0] > nh else None)
        self.t_bias = tagger.intercept_.astype(np.float32)
        self.tagger = True  # trained
        self.card.setdefault("training", {}).update({
            "tagger_examples": len(examples), "slots": sorted({l[2:] for l in self.tag_labels if l != "O"}),
            "tagger_data_sha256": sha256_of(examples),
        })
        return self

    def adopt_tagger(self, other: "StudentModel") -> "StudentModel":
        """Use another student's slot tagger (intents and slots trained on different data)."""
        for k in ("tagger", "tag_labels", "hasher", "t_sparse", "t_dense", "t_bias"):
            setattr(self, k, getattr(other, k))
        self.card.setdefault("training", {}).update(
            {k: v for k, v in other.card.get("training", {}).items() if k.startswith("tagger") or k == "slots"})
        return self

    def tag(self, text: str) -> list[Span]:
        """Slot spans [(slot, start, end)] as character offsets into `text`."""
        if self.tagger is None:
            return []
        state = self._token_states([text])[0] if self.use_embeddings else None
        return self._decode(text, state)

    def tag_batch(self, texts: Sequence[str], states: Sequence[Any] | None = None) -> list[list[Span]]:
        if self.tagger is None:
            return [[] for _ in texts]
        if self.use_embeddings and states is None:
            states = self.embedder.encode_tokens(list(texts))
        return [self._decode(t, states[i] if states is not None else None) for i, t in enumerate(texts)]

    def _viterbi(self, z: np.ndarray) -> list[str]:
        """Best BIO sequence under the per-word log-probabilities: I-X only after B-X or I-X."""
        labels = self.tag_labels
        if getattr(self, "_allowed", None) is None or self._allowed.shape[0] != len(labels):
            allowed = np.zeros((len(labels), len(labels)))
            for j, cur in enumerate(labels):
                if cur.startswith("I-"):
                    for i, prev in enumerate(labels):
                        if prev[2:] != cur[2:] or prev == "O":
                            allowed[i, j] = -np.inf
            self._allowed = allowed
            self._start = np.array([-np.inf if lab.startswith("I-") else 0.0 for lab in labels])
        logp = z - z.max(1, keepdims=True)
        logp = logp - np.log(np.exp(logp).sum(1, keepdims=True))
        score = logp[0] + self._start
        back = []
        for t in range(1, len(logp)):
            cand = score[:, None] + self._allowed
            back.append(cand.argmax(0))
            score = cand.max(0) + logp[t]
        best = [int(score.argmax())]
        for bp in reversed(back):
            best.append(int(bp[best[-1]]))
        return [labels[i] for i in reversed(best)]

    def _decode(self, text: str, state: Any) -> list[Span]:
        assert self.tagger is not None
        toks, xs, xd = self._tag_rows(text, state)
        if not toks:
            return []
        z = xs @ self.t_sparse + self.t_bias
        if xd is not None and self.t_dense is not None:
            z = z + xd @ self.t_dense
        tags = self._viterbi(np.asarray(z, dtype=np.float64))
        spans: list[Span] = []
        cur: list[Any] | None = None
        for (w, s, e), tag in zip(toks, tags):
            if tag == "O":
                cur = None
                continue
            kind, slot = tag[:1], tag[2:]
            if kind == "I" and cur is not None and cur[0] == slot:
                cur[2] = e
                spans[-1] = (slot, cur[1], e)
            else:
                cur = [slot, s, e]
                spans.append((slot, s, e))
        # trailing punctuation never ends a span
        return [(lab, s, e - (1 if text[e - 1] in ".,?!" and e - 1 > s else 0)) for lab, s, e in spans]

    # ---- persistence ----------------------------------------------------------------------------
    def save(self, path: str | Path, metrics: dict[str, Any] | None = None, name: str = "student",
             data_files: Sequence[str | Path] = ()) -> Path:
        """Write the model, its encoder (int8 ONNX) and the model card into `path`."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        if self.use_embeddings:
            from callflows.nlu.embeddings import ONNX_FILE, Embedder, OnnxEmbedder, export_onnx

            emb = self.embedder
            if isinstance(emb, OnnxEmbedder):
                src = emb.path / ONNX_FILE
                if src.resolve() != (path / ONNX_FILE).resolve():
                    (path / ONNX_FILE).write_bytes(src.read_bytes())
                    (path / "tokenizer.json").write_bytes((src.parent / "tokenizer.json").read_bytes())
            elif isinstance(emb, Embedder):
                export_onnx(emb, path)
        state = {k: getattr(self, k) for k in ("use_embeddings", "embedding_weight", "c", "oos_false_reject",
                                                "tagger_c", "words", "chars", "model", "labels", "threshold",
                                                "tagger", "tag_labels", "hasher", "w_words", "w_chars", "w_emb",
                                                "b_intent", "t_sparse", "t_dense", "t_bias")}
        state["_allowed"] = None
        state["format_version"] = FORMAT_VERSION
        blob = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
        (path / PICKLE).write_bytes(blob)
        self.card["pickle_sha256"] = hashlib.sha256(blob).hexdigest()
        self.card = {**self.card, **write_card(path, self, metrics or {}, name, data_files)}
        return path

    @classmethod
    def load(cls, path: str | Path, threads: int = 1) -> "StudentModel":
        path = Path(path)
        blob = (path / PICKLE).read_bytes()
        card_file = path / "card.json"
        card = json.loads(card_file.read_text()) if card_file.is_file() else {}
        expected = card.get("pickle_sha256") if isinstance(card, dict) else None
        # A pickle can run code: only the file this build wrote (its checksum is in the card) is opened.
        if not expected or not hmac.compare_digest(hashlib.sha256(blob).hexdigest(), str(expected)):
            raise ValueError(f"{path}: {PICKLE} does not match the checksum in card.json (rebuild with `callflows distill`)")
        state = pickle.loads(blob)  # noqa: S301 - checksum verified above
        if state.pop("format_version", None) != FORMAT_VERSION:
            raise ValueError(f"{path}: unsupported student format")
        student = cls(use_embeddings=state["use_embeddings"])
        for k, v in state.items():
            setattr(student, k, v)
        if student.use_embeddings:
            from callflows.nlu.embeddings import load_embedder

            student._embedder = load_embedder(path, threads=threads)
        student.card = card
        return student
