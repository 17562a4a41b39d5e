"""Train a vertical's student from its seeds, its distilled data and its own labelled data sets.

Built models go to models/built/<vertical>/student (git-ignored; CALLFLOWS_BUILT_DIR moves the
root). A tenth of the non-seed data is held out for the model card's check, then the saved model
is trained on everything.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from callflows.distill.cache import ArtifactCache, files_sha256, key_of, swap_in
from callflows.distill.datafile import DATA_FILE, DistilledFile
from callflows.distill.encoder import EncoderPlan, encoder_for, library_versions, plan_encoder
from callflows.distill.negatives import OtherDomains, other_domain_negatives
from callflows.distill.paths import student_dir
from callflows.distill.recipe import Recipe, read_source
from callflows.flow.spec import FlowSpec
from callflows.nlu.asr_style import AsrStyler
from callflows.nlu.builtin_intents import BUILTIN_INTENTS
from callflows.nlu.pipeline import FAQ_INTENT
from callflows.nlu import student as student_module
from callflows.nlu.student import GENERIC_NEGATIVES, OOS, StudentModel, calibration_holdout, sha256_of
from callflows.nlu.values import normalize_asr

logger = logging.getLogger(__name__)


@dataclass
class TrainingData:
    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    seed: list[bool] = field(default_factory=list)  # True: the flow's own examples (never held out)
    groups: list[int] = field(default_factory=list)  # an utterance and its ASR-style copy share an id
    oos: list[str] = field(default_factory=list)
    tagged: list[tuple[str, list[tuple[str, int, int]]]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, text: str, label: str, seed: bool, source: str, same_group_as_last: bool = False) -> None:
        text = normalize_asr(text)
        if text:
            group = self.groups[-1] if same_group_as_last and self.groups else (self.groups[-1] + 1 if self.groups else 0)
            self.texts.append(text)
            self.labels.append(label)
            self.seed.append(seed)
            self.groups.append(group)
            self.counts[source] = self.counts.get(source, 0) + 1

    def without(self, texts: frozenset[str]) -> "TrainingData":
        """The same data without the examples whose group (an utterance and its ASR-style copy)
        holds one of `texts`: an evaluation's held-out utterances must not train the student."""
        if not texts:
            return self
        gone = {g for t, g in zip(self.texts, self.groups) if t in texts}
        out = TrainingData(oos=list(self.oos), tagged=list(self.tagged), counts=dict(self.counts))
        for i, g in enumerate(self.groups):
            if g not in gone:
                out.texts.append(self.texts[i])
                out.labels.append(self.labels[i])
                out.seed.append(self.seed[i])
                out.groups.append(g)
        out.counts["left_out_for_evaluation"] = len(self.texts) - len(out.texts)
        return out


def collect(flow: FlowSpec, root: Path, recipe: Recipe, log: Callable[[str], None] = print) -> TrainingData:
    data = TrainingData()
    styler = AsrStyler(seed=2, fillers=0.15, errors=0.05)
    for name, examples in BUILTIN_INTENTS.items():
        for e in examples:
            data.add(e, name, True, "builtin")
    for intent in flow.intents.values():
        for e in intent.examples or intent.keywords:
            data.add(e, intent.name, True, "flow_examples")
            data.add(styler(e), intent.name, True, "flow_examples_asr", same_group_as_last=True)
    for entry in flow.faq:
        for q in entry.questions:
            data.add(q, FAQ_INTENT, True, "faq_questions")
            data.add(styler(q), FAQ_INTENT, True, "faq_questions_asr", same_group_as_last=True)
    known = set(flow.intents) | set(BUILTIN_INTENTS) | {FAQ_INTENT}
    for source in recipe.datasets:
        rows = read_source(source, root)
        if not rows:
            log(f"[train] data set {source.path} not found or empty: skipped")
        unknown = 0
        for text, label in rows:
            if label not in known:
                unknown += 1
                continue
            data.add(text, label, False, f"dataset:{source.path}")
            data.add(styler(text), label, False, f"dataset:{source.path}:asr", same_group_as_last=True)
        if unknown:
            log(f"[train] {source.path}: {unknown} rows with labels the flow does not have: skipped")
    for source in recipe.oos_datasets:
        data.oos += [normalize_asr(t) for t, _ in read_source(source, root)]
    if recipe.oos_other_domains is not None:
        add_other_domain_negatives(data, recipe.oos_other_domains, root.parent)
    for ex in DistilledFile(root / DATA_FILE).examples():
        if ex.slots:
            data.tagged.append((ex.text, [tuple(s) for s in ex.slots]))  # type: ignore[misc]
        elif ex.intent in known:
            data.add(ex.text, ex.intent, False, f"distilled_{ex.style}")
    return data


def add_other_domain_negatives(data: TrainingData, spec: OtherDomains, verticals_root: Path) -> None:
    """Other domains' requests (the training part, callflows/distill/negatives.py) as out-of-scope
    negatives, with one ASR-style copy each when `spec.asr_copies`: the in-scope examples all have
    one, and without them a filler word alone would read as in scope. A negative that is also one of
    this vertical's own examples is dropped (the same words cannot be both)."""
    own = set(data.texts)
    styler = AsrStyler(seed=2, fillers=0.15, errors=0.05)
    for neg in other_domain_negatives(spec, "train", verticals_root):
        if neg.text in own:
            continue
        data.oos.append(neg.text)
        kind = neg.source.split(":", 1)[0]
        data.counts[f"oos:{kind}"] = data.counts.get(f"oos:{kind}", 0) + 1
        if spec.asr_copies:
            copy = normalize_asr(styler(neg.text))
            if copy and copy not in own:
                data.oos.append(copy)
                data.counts[f"oos:{kind}:asr"] = data.counts.get(f"oos:{kind}:asr", 0) + 1


def save_replacing(student: StudentModel, out: Path, metrics: dict[str, object], name: str,
                   data_files: list[Path]) -> None:
    """Save into a new folder beside `out`, then swap it in by renames (cache.swap_in: running
    calls and tests load the folder while it is rebuilt)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    tmp.chmod(0o755)  # mkdtemp's 0700 would hide the model from other users of the machine
    student.save(tmp, metrics=metrics, name=name, data_files=data_files)
    swap_in(tmp, out)


def data_sha256(data: TrainingData) -> str:
    """What the student learns from, as one digest (the data part of its cache key)."""
    return sha256_of([data.texts, data.labels, data.seed, data.groups, data.oos, data.tagged])


@dataclass(frozen=True)
class BuildCaches:
    """Where built students and fine-tuned encoders are kept by their inputs' hash (cache.py)."""

    students: ArtifactCache
    encoders: ArtifactCache

    @classmethod
    def default(cls) -> "BuildCaches":
        return cls(ArtifactCache.default("students"), ArtifactCache.default("encoders"))


def student_key(vertical: str, data: TrainingData, encoder: EncoderPlan, holdout: float, data_files: list[Path]) -> str:
    """sha256 of everything a built student folder depends on: its training data, its encoder, the
    code and libraries that fit and pickle it, and the files its card names."""
    return key_of({
        "vertical": vertical, "data": data_sha256(data), "encoder": encoder.key, "holdout": holdout,
        "code": files_sha256([Path(__file__), Path(student_module.__file__)]),
        "libs": library_versions(["numpy", "scipy", "scikit-learn", "onnx", "onnxruntime", "tokenizers"]),
        "data_files": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in data_files},
    })


def train_student(flow: FlowSpec, root: Path, recipe: Recipe | None = None, out: Path | None = None,
                  embedder: Any = None, log: Callable[[str], None] = print, holdout: float = 0.1,
                  leave_out: frozenset[str] = frozenset(), caches: BuildCaches | None = None,
                  require_torch: bool = False) -> Path:
    """Train and save the vertical's student. `leave_out`: normalised utterances (with their
    ASR-style copies) kept out of training, for an evaluation that measures the saved student on
    them (callflows/eval/vertical_oos.py); `holdout`: the share of non-seed data held out for the
    model card's own accuracy check (0: no check, one training less). `caches`: take the student
    (or its fine-tuned encoder) from there when its inputs were built before, and keep what is
    built there (the install's build, callflows/distill/build.py); `require_torch`: TorchMissing
    rather than a frozen encoder when fine-tuning needs torch and it is missing. `embedder`: train
    on this encoder (no fine-tuning, no cache)."""
    recipe = recipe or Recipe.load(root)
    data = collect(flow, root, recipe, log).without(leave_out)
    if len(set(data.labels)) < 2:
        raise ValueError(f"{flow.vertical}: not enough labelled examples to train a student")
    log(f"[train] {len(data.texts)} intent examples ({', '.join(f'{k} {v}' for k, v in sorted(data.counts.items()))}), "
        f"{len(data.oos)} out-of-scope negatives, {len(data.tagged)} slot-tagged answers")
    t0 = time.time()
    out = out or student_dir(flow.vertical)
    files = [p for p in (root / DATA_FILE, root / "flow.yaml") if p.is_file()]
    with tempfile.TemporaryDirectory(prefix="callflows-encoders-") as scratch:
        plan: EncoderPlan | None = None
        key = None
        if embedder is None:
            ft_texts, ft_labels = finetune_examples(data, recipe)
            encoders = caches.encoders if caches else ArtifactCache(Path(scratch))
            plan = plan_encoder(ft_texts, ft_labels, recipe, encoders, require_torch=require_torch, log=log)
            if caches is not None:
                key = student_key(flow.vertical, data, plan, holdout, files)
                if _current(out, key) or caches.students.copy_out(key, out):
                    log(f"[train] {flow.vertical}: {plan.kind} student {key[:12]} from the cache -> {out}")
                    return out
            embedder = encoder_for(plan, ft_texts, ft_labels, recipe, encoders,
                                   threads=int(os.environ.get("CALLFLOWS_TRAIN_THREADS", "2")), log=log)
        student, metrics = _fit(data, embedder, holdout, log)
        student.card.setdefault("training", {})["encoder"] = plan.card if plan else {"kind": "given"}
        if key:
            student.card["training"]["cache_key"] = key
        metrics["train_seconds"] = round(time.time() - t0, 1)
        save_replacing(student, out, metrics=metrics, name=f"{flow.vertical} student", data_files=files)
    if caches is not None and key:
        caches.students.put(key, out)
    size = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    log(f"[train] saved {out} ({size / 1e6:.1f} MB) in {time.time() - t0:.0f} s")
    return out


def finetune_examples(data: TrainingData, recipe: Recipe) -> tuple[list[str], list[str]]:
    """What the encoder is fine-tuned on: the in-scope examples less the calibration tenth (the
    out-of-scope threshold must be set on examples the encoder has not learnt), and with
    `recipe.finetune_oos` a seeded sample of the out-of-scope negatives as one more class, at most
    as many as the in-scope examples. Why the negatives: trained on the intents alone, the encoder
    only learns to draw the intents apart, and a small vertical's real requests that are phrased
    unlike its examples then land nearer the negatives than any intent."""
    cal = calibration_holdout(data.labels, data.groups)
    texts = [t for t, c in zip(data.texts, cal) if not c]
    labels = [lab for lab, c in zip(data.labels, cal) if not c]
    if recipe.finetune_oos and data.oos:
        negatives = sorted(set(data.oos) - set(texts))
        sample = random.Random(0).sample(negatives, min(len(negatives), len(texts)))
        texts, labels = texts + sample, labels + [OOS] * len(sample)
    return texts, labels


def _current(out: Path, key: str) -> bool:
    """`out` already holds the student built from these inputs (its card names the key)."""
    try:
        card = json.loads((out / "card.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(card, dict) and card.get("training", {}).get("cache_key") == key and (out / "student.pkl").is_file()


def _fit(data: TrainingData, embedder: Any, holdout: float,
         log: Callable[[str], None]) -> tuple[StudentModel, dict[str, Any]]:
    """The student on all of `data`, after a check model on all but `holdout` of the non-seed
    examples (its accuracy goes into the card's metrics)."""
    oos = list(dict.fromkeys(data.oos))
    all_texts = data.texts + oos + list(GENERIC_NEGATIVES)
    log(f"[train] embedding {len(all_texts)} sentences ...")
    vectors = embedder.encode(all_texts)
    n = len(data.texts)
    rng = random.Random(0)
    candidates = [i for i in range(n) if not data.seed[i]]
    held = set(rng.sample(candidates, int(len(candidates) * holdout))) if candidates and holdout > 0 else set()
    metrics: dict[str, Any] = {}
    if held:
        keep = [i for i in range(n) if i not in held]
        idx = keep + list(range(n, len(all_texts)))
        check = StudentModel(embedder=embedder).fit([data.texts[i] for i in keep], [data.labels[i] for i in keep],
                                                    oos_texts=oos, vectors=vectors[idx],
                                                    groups=[data.groups[i] for i in keep])
        order = sorted(held)
        pred = check.predict([data.texts[i] for i in order], vectors=vectors[order])
        acc = float(np.mean([p == data.labels[i] for p, i in zip(pred, order)]))
        metrics["heldout_intent_accuracy"] = round(acc, 4)
        metrics["heldout_examples"] = len(order)
        log(f"[train] held-out intent accuracy {acc:.1%} on {len(order)} examples")
    student = StudentModel(embedder=embedder).fit(data.texts, data.labels, oos_texts=oos, vectors=vectors,
                                                  groups=data.groups)
    if data.tagged:
        try:
            student.fit_tagger(data.tagged)
            student.card.setdefault("training", {})["slots"] = sorted({s[0] for _, spans in data.tagged for s in spans})
        except ValueError as exc:  # e.g. every kept answer is the bare value: nothing to tell apart
            student.tagger = None
            log(f"[train] no slot tagger: {exc}")
    metrics["intent_examples"] = n
    metrics["sources"] = dict(sorted(data.counts.items()))
    return student, metrics
