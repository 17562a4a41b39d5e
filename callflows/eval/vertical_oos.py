"""Out-of-scope rejection through each vertical, as a call uses it, before and after a recipe change.

Why this and not the bare classifier: what a caller meets is the student as the dialogue loads it
(StudentModel.load of the saved build, inside VerticalNLU, with the flow's keywords, hints,
small talk and confidence threshold, then DialogueSession's policy). A request the student
rejects can still start a form through a keyword, and one it accepts below the flow's threshold
is still not acted on. So every utterance here is said as the first turn of a fresh phone
session (no database, no LLM escalation), and what the session did is the outcome: a form
started, an intent answered or transferred, an FAQ answered, the call ended, or nothing acted on:
"rejected" (a miss: not understood, out of scope) or "chat" (small talk, hold, help: the call stays
where it was). An out-of-scope request is rejected when nothing was acted on; an in-scope one is
right when the session did what its intent asks for; small talk and meta-turns must be "chat".

Per vertical, in one run, two students are trained by the product's own code
(callflows/distill/train.py: `train_student`) on the same in-scope data:
- before: the recipe as it was (CLINC150 `oos_train` + 30 generic sentences as negatives, the
  student's default weighting and threshold share);
- after: the vertical's distill.yaml (other domains' requests, callflows/distill/negatives.py).
Both leave out the held-out in-scope utterances (a fifth of the vertical's distilled batches;
Banking77's validation split for the bank), and no held-out out-of-scope utterance is trained on
(negatives.py draws both parts). The threshold is calibrated on a held-out tenth of the training
data inside `StudentModel.fit`, as always. Texts are measured typed and in ASR style (seed 1).

    callflows eval --verticals-oos                 # all three verticals, ~20 min on 2 busy cores
    callflows eval --verticals-oos --installed     # the students the install built (held-out sets they never saw)
    callflows eval --verticals-oos --quick         # samples, ~4 min, rough numbers
"""

from __future__ import annotations

import copy
import json
import random
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence
from zoneinfo import ZoneInfo

import numpy as np

from callflows.distill.datafile import DATA_FILE, DistilledFile
from callflows.distill.negatives import Negative, OtherDomains, other_domain_negatives, stable_hash
from callflows.distill.recipe import DataSource, Recipe, nlupp_hotel_task
from callflows.flow.spec import FlowSpec
from callflows.nlu.asr_style import AsrStyler
from callflows.nlu.pipeline import FAQ_INTENT, NluResult, VerticalNLU
from callflows.nlu.student import StudentModel
from callflows.nlu.values import ParseContext, normalize_asr

if TYPE_CHECKING:
    from callflows.nlu.embeddings import OnnxEmbedder

VERTICALS = ("dental_clinic", "hotel", "retail_bank")
ASR_NOISE = {"fillers": 0.1, "errors": 0.03}  # as callflows/eval/runner.py
NOW = datetime(2026, 12, 1, 10, 0)
RECALL_TARGET = 0.90
ACCURACY_LOSS_TARGET = 0.01
# Small talk and meta-turns the dialogue answers itself (callflows/nlu/smalltalk.py, hold.py):
# none of them may be acted on as a request or rejected as one.
SMALL_TALK = (
    "hi", "hello there", "good morning", "hey how are you", "how are you doing today", "thank you",
    "thanks so much", "are you a robot", "am i talking to a real person", "is this a machine",
    "can you hear me", "are you there", "sorry what", "what was that", "can you repeat that",
    "hold on", "hold on a second", "one moment please", "just a minute", "give me a second",
    "hang on let me get my card", "wait a moment", "um hello", "uh thank you",
)


@dataclass(frozen=True)
class Utterance:
    """One evaluation utterance; `gold` None: out of scope."""

    text: str
    gold: str | None
    source: str


@dataclass(frozen=True)
class Rate:
    n: int
    hits: int

    @property
    def value(self) -> float:
        return self.hits / self.n if self.n else float("nan")

    def to_json(self) -> dict[str, float | int]:
        return {"n": self.n, "hits": self.hits, "rate": round(self.value, 4)}


@dataclass
class StyleResult:
    """One student on one text style ("text" or "asr")."""

    oos_recall: Rate
    oos_recall_by_source: dict[str, Rate]
    oos_recall_unseen_intents: Rate
    oos_taken_as_task: Rate  # out-of-scope requests that started a form or got an intent's answer
    in_scope_accuracy: Rate
    in_scope_accuracy_no_rejection: Rate  # the same student with its out-of-scope class and threshold off
    in_scope_rejected: Rate
    small_talk_wrong: Rate  # small talk / meta-turns acted on as a request or missed (must be 0)


@dataclass
class SystemResult:
    name: str
    recipe: str
    oos_threshold: float
    negatives: int
    train_seconds: float
    styles: dict[str, StyleResult] = field(default_factory=dict)


@dataclass
class VerticalResult:
    vertical: str
    in_scope: int
    out_of_scope: int
    systems: dict[str, SystemResult] = field(default_factory=dict)


# ---- data ------------------------------------------------------------------------------------------
INSCOPE_HELDOUT = 3  # one in three of a vertical's own utterances (pairs) is held out


def _in_scope_pairs(root: Path, flow: FlowSpec) -> list[tuple[str, list[str], str]]:
    """(key, texts, intent): the flow's examples and the distilled utterances of its intents and
    FAQ questions. A distilled ASR-style row is the copy of the typed row before it in the same
    teacher batch: the two are one pair, held out together (the first text is the typed one)."""
    pairs: list[tuple[str, list[str], str]] = [(f"flow:{e}", [e], name) for name, intent in flow.intents.items()
                                               for e in (intent.examples or ())]
    last_task = None
    for n, ex in enumerate(DistilledFile(root / DATA_FILE).examples()):
        if ex.slots or not (ex.intent in flow.intents or ex.intent == FAQ_INTENT):
            last_task = None
            continue
        if ex.style == "asr" and last_task == ex.task and pairs and pairs[-1][2] == ex.intent:
            pairs[-1][1].append(ex.text)
            continue
        pairs.append((f"row:{ex.task}:{n}", [ex.text], str(ex.intent)))
        last_task = ex.task
    return pairs


def in_scope_heldout(vertical: str, root: Path, flow: FlowSpec) -> tuple[list[Utterance], frozenset[str]]:
    """The labelled in-scope utterances the students are measured on, and the normalised texts they
    must leave out of training: a third of the flow's examples and distilled utterances (with
    their ASR-style copies); the bank adds Banking77's validation split (its training part is what
    the bank's recipe trains on); the dental clinic adds SGD's real first turns asking a dentist's
    office for an appointment (SGD is in no vertical's training data)."""
    held: list[Utterance] = []
    leave: set[str] = set()
    for key, texts, intent in _in_scope_pairs(root, flow):
        if stable_hash(f"inscope:{vertical}:{key}") % INSCOPE_HELDOUT == 0:
            leave.update(normalize_asr(t) for t in texts)
            held.append(Utterance(texts[0], intent, "flow_examples" if key.startswith("flow:") else "distilled"))
    if vertical == "retail_bank":
        from callflows.eval.data import banking77_split

        held += [Utterance(t, lab, "banking77_val") for t, lab in banking77_split()[1] if lab in flow.intents]
    if vertical == "hotel":
        from callflows.eval.data import nlupp_split

        for e in nlupp_split()[1]:
            gold = nlupp_hotel_task(set(e.get("intents") or ())) if e["domain"] == "hotels" else None
            if gold is not None:
                held.append(Utterance(e["text"], gold, "nlupp_hotels_val"))
    if vertical == "dental_clinic":
        from callflows.eval.data import sgd_turns

        held += [Utterance(t["text"], "book_appointment", "sgd_dentist") for t in sgd_turns()
                 if t["service"] == "Services_2" and t["turn"] == 0 and t["intent"] == "BookAppointment"]
    return held, frozenset(leave)


def out_of_scope_heldout(spec: OtherDomains, verticals_root: Path) -> list[tuple[Utterance, bool]]:
    """(utterance, of an unseen CLINC150 intent) for CLINC150's `oos_val` and the held-out part of
    every other-domain source of `spec`."""
    from callflows.eval.data import clinc_split

    rows = [(Utterance(t, None, "clinc150:oos_val"), False) for t, _ in clinc_split()["oos_val"]]
    negs: list[Negative] = other_domain_negatives(spec, "heldout", verticals_root)
    return rows + [(Utterance(n.text, None, n.source), n.unseen) for n in negs]


def before_recipe(recipe: Recipe) -> Recipe:
    """The recipe as it was: CLINC150 oos_train (+ the student's 30 generic sentences) as the only
    negatives, and no NLU++ hotel tasks among the hotel's examples."""
    return replace(recipe, oos_datasets=(DataSource(path="clinc150", format="split"),), oos_other_domains=None,
                   datasets=tuple(d for d in recipe.datasets if d.path != "nlupp_hotel_tasks"))


# ---- through the dialogue --------------------------------------------------------------------------
class _LastParse(VerticalNLU):
    """VerticalNLU that remembers its last result (which intent the session answered)."""

    last: NluResult | None = None

    def parse(self, text: str, ctx: ParseContext, slots: list[str] | None = None) -> NluResult:
        self.last = super().parse(text, ctx, slots)
        return self.last


def expected_outcome(flow: FlowSpec, gold: str) -> str:
    """What a session does when it understands `gold` as a first turn."""
    if gold == FAQ_INTENT:
        return "faq"
    form = flow.form_for_intent(gold)
    if form is not None:
        return f"form:{form.name}"
    spec = flow.intents[gold]
    if spec.transfer:
        return f"transfer:{gold}"
    if spec.end_call:
        return "ended"
    return f"answered:{gold}"


class CallProbe:
    """Says one utterance as the first turn of a fresh phone session and reports what it did."""

    def __init__(self, vertical: str, root: Path, flow: FlowSpec, student: StudentModel, gate_faq: bool = True):
        from callflows.actions.runner import make_runner
        from callflows.verticals import Vertical, load_actions_module

        self.flow = flow
        self.nlu = _LastParse(flow, student=student, gate_faq=gate_faq)
        module = load_actions_module(vertical, root, flow.actions_module)
        self.vertical = Vertical(name=vertical, root=root, flow=flow, nlu=self.nlu,
                                 actions=make_runner(module, flow.action_server), version=None)
        self.now = NOW.replace(tzinfo=ZoneInfo(flow.timezone))

    def outcome(self, text: str) -> str:
        from callflows.dialogue import DialogueSession

        session = DialogueSession(self.vertical, None, now=self.now, channel="phone", escalation=None)
        session.start()
        reply = session.handle_text(text, source="speech")
        st = session.state
        done = st.outcomes
        if st.pending_form or st.active_form:
            return f"form:{st.pending_form or st.active_form}"
        for o in done:
            if o.endswith("_transferred"):
                return f"transfer:{o[: -len('_transferred')]}"
        if st.transferred_to or reply.transfer_to:
            return "transfer:human"
        if "intent_answered" in done and self.nlu.last is not None:
            return f"answered:{self.nlu.last.intent}"
        if "faq_answered" in done:
            return "faq"
        if st.ended:
            return "ended"
        # nothing acted on: a miss ("sorry, I didn't catch that", out of scope) or an answer that
        # leaves the call where it was (small talk, "take your time", help, the last words again)
        return "rejected" if st.misses else "chat"


def caching_encoder(path: Path, threads: int = 2) -> "OnnxEmbedder":
    """The int8 encoder at `path`, remembering every sentence vector it made: the two students of a
    vertical share their in-scope sentences, so each is encoded once. Still an OnnxEmbedder, so a
    saved student copies the same ONNX graph (StudentModel.save)."""
    from callflows.nlu.embeddings import OnnxEmbedder

    class CachingEncoder(OnnxEmbedder):
        def __init__(self) -> None:
            super().__init__(path, threads=threads)
            self.memo: dict[str, np.ndarray] = {}

        def encode(self, texts: Sequence[str] | str, batch_size: int = 64) -> np.ndarray:
            texts = [texts] if isinstance(texts, str) else list(texts)
            todo = list(dict.fromkeys(t for t in texts if t not in self.memo))
            if todo:
                for t, v in zip(todo, super().encode(todo, batch_size)):
                    self.memo[t] = v
            return np.stack([self.memo[t] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    return CachingEncoder()


def _no_rejection(student: StudentModel) -> StudentModel:
    """A copy of `student` that never rejects: threshold 0, out-of-scope class never on top."""
    from callflows.nlu.student import OOS

    off = copy.copy(student)
    off.threshold = 0.0
    if OOS in student.labels:
        off.b_intent = student.b_intent.copy()
        off.b_intent[student.labels.index(OOS)] = -1e9
    return off


def _rate(flags: list[bool]) -> Rate:
    return Rate(len(flags), int(sum(flags)))


def measure(probe: CallProbe, probe_off: CallProbe, flow: FlowSpec, in_scope: list[Utterance],
            oos: list[tuple[Utterance, bool]], small_talk: list[str]) -> StyleResult:
    rejected: list[bool] = []
    as_task: list[bool] = []
    by_source: dict[str, list[bool]] = defaultdict(list)
    unseen: list[bool] = []
    for u, is_unseen in oos:
        out = probe.outcome(u.text)
        not_acted = out in ("rejected", "chat")
        rejected.append(not_acted)
        as_task.append(out.startswith(("form:", "answered:")) or (out.startswith("transfer:") and out != "transfer:human"))
        by_source[u.source].append(not_acted)
        if is_unseen:
            unseen.append(not_acted)
    right, right_off, in_rejected = [], [], []
    for u in in_scope:
        assert u.gold is not None
        want = expected_outcome(flow, u.gold)
        out = probe.outcome(u.text)
        right.append(out == want)
        in_rejected.append(out in ("rejected", "chat"))
        right_off.append(probe_off.outcome(u.text) == want)
    wrong = [probe.outcome(t) != "chat" for t in small_talk]
    return StyleResult(
        oos_recall=_rate(rejected),
        oos_recall_by_source={k: _rate(v) for k, v in sorted(by_source.items())},
        oos_recall_unseen_intents=_rate(unseen),
        oos_taken_as_task=_rate(as_task),
        in_scope_accuracy=_rate(right),
        in_scope_accuracy_no_rejection=_rate(right_off),
        in_scope_rejected=_rate(in_rejected),
        small_talk_wrong=_rate(wrong),
    )


# ---- the run ---------------------------------------------------------------------------------------
def _styled(items: list[Utterance], styler: AsrStyler | None) -> list[Utterance]:
    return items if styler is None else [replace(u, text=styler(u.text)) for u in items]


def _sample(items: list, n: int | None, seed: int) -> list:
    if n is None or len(items) <= n:
        return items
    rng = random.Random(seed)
    return [items[i] for i in sorted(rng.sample(range(len(items)), n))]


def run_vertical(vertical: str, quick: bool = False, log: Callable[[str], None] = print,
                 workdir: Path | None = None) -> VerticalResult:
    from callflows.distill.train import train_student
    from callflows.flow.loader import load_flow
    from callflows.nlu.embeddings import default_fast_embedder
    from callflows.verticals import vertical_root

    root = vertical_root(vertical)
    flow = load_flow(root / "flow.yaml")
    after = Recipe.load(root)
    if after.oos_other_domains is None:
        raise ValueError(f"{root}/distill.yaml has no oos_other_domains: nothing to compare")
    in_scope, leave_out = in_scope_heldout(vertical, root, flow)
    oos = out_of_scope_heldout(after.oos_other_domains, root.parent)
    if quick:
        in_scope = _sample(in_scope, 200, 1)
        oos = _sample(oos, 300, 2)
    result = VerticalResult(vertical, len(in_scope), len(oos))
    log(f"[{vertical}] {len(in_scope)} in-scope, {len(oos)} out-of-scope held-out utterances; "
        f"{len(leave_out)} in-scope texts left out of training")
    shared = default_fast_embedder(threads=2)
    embedder = caching_encoder(shared.path) if hasattr(shared, "path") else shared
    # finetune_layers 0: both students share the frozen encoder, so the comparison is the negatives
    recipes = {"before": replace(before_recipe(after), finetune_layers=0), "after": replace(after, finetune_layers=0)}
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        for name, recipe in recipes.items():
            t0 = time.time()
            path = train_student(flow, root, recipe, out=Path(tmp) / name, embedder=embedder, holdout=0,
                                 leave_out=leave_out, log=lambda m: log(f"[{vertical}:{name}] {m}"))
            seconds = time.time() - t0
            student = StudentModel.load(path, threads=1)
            training = student.card.get("training", {})
            system = SystemResult(name, "before: CLINC150 oos_train + generic" if name == "before" else "distill.yaml",
                                  float(student.threshold), int(training.get("oos_negatives", 0)), round(seconds, 1))
            gate = name != "before"  # before: the dialogue as it was, any FAQ match answered
            probe = CallProbe(vertical, root, flow, student, gate_faq=gate)
            probe_off = CallProbe(vertical, root, flow, _no_rejection(student), gate_faq=gate)
            for style in ("text", "asr"):
                styler = None if style == "text" else AsrStyler(seed=1, **ASR_NOISE)
                t1 = time.time()
                ins = _styled(in_scope, styler)
                styler2 = None if style == "text" else AsrStyler(seed=1, **ASR_NOISE)
                outs = [(u2, un) for u2, (_, un) in zip(_styled([u for u, _ in oos], styler2), oos)]
                st = measure(probe, probe_off, flow, ins, outs, list(SMALL_TALK))
                system.styles[style] = st
                log(f"[{vertical}:{name}:{style}] OOS recall {st.oos_recall.value:.1%} "
                    f"(unseen intents {st.oos_recall_unseen_intents.value:.1%}, taken as a task "
                    f"{st.oos_taken_as_task.value:.1%}); in-scope {st.in_scope_accuracy.value:.1%} "
                    f"(no rejection {st.in_scope_accuracy_no_rejection.value:.1%}, rejected "
                    f"{st.in_scope_rejected.value:.1%}); small talk wrong {st.small_talk_wrong.hits} "
                    f"[{time.time() - t1:.0f} s]")
            result.systems[name] = system
    return result


def run_installed(vertical: str, quick: bool = False, log: Callable[[str], None] = print) -> SystemResult:
    """The student the install built (models/built/<vertical>/student), loaded as a call loads it,
    on the held-out out-of-scope sets (the install trains on their training parts only) and on the
    in-scope utterances it never trained on: Banking77's validation split, SGD's dentist requests,
    NLU++ hotels' validation requests (the vertical's own examples it did train on are left out)."""
    from callflows.distill.paths import student_dir
    from callflows.flow.loader import load_flow
    from callflows.verticals import vertical_root

    root = vertical_root(vertical)
    flow = load_flow(root / "flow.yaml")
    recipe = Recipe.load(root)
    assert recipe.oos_other_domains is not None
    student = StudentModel.load(student_dir(vertical), threads=1)
    in_scope = [u for u in in_scope_heldout(vertical, root, flow)[0] if u.source not in ("distilled", "flow_examples")]
    oos = out_of_scope_heldout(recipe.oos_other_domains, root.parent)
    if quick:
        in_scope, oos = _sample(in_scope, 200, 1), _sample(oos, 300, 2)
    training = student.card.get("training", {})
    system = SystemResult("installed", f"models/built/{vertical}/student ({student.card.get('date', '?')})",
                          float(student.threshold), int(training.get("oos_negatives", 0)),
                          float(student.card.get("metrics", {}).get("train_seconds", 0.0)))
    probe = CallProbe(vertical, root, flow, student)
    probe_off = CallProbe(vertical, root, flow, _no_rejection(student))
    for style in ("text", "asr"):
        ins = _styled(in_scope, None if style == "text" else AsrStyler(seed=1, **ASR_NOISE))
        outs = list(zip(_styled([u for u, _ in oos], None if style == "text" else AsrStyler(seed=1, **ASR_NOISE)),
                        [un for _, un in oos]))
        st = measure(probe, probe_off, flow, ins, outs, list(SMALL_TALK))
        system.styles[style] = st
        log(f"[{vertical}:installed:{style}] OOS recall {st.oos_recall.value:.1%}; in-scope "
            f"{st.in_scope_accuracy.value:.1%} of {st.in_scope_accuracy.n} (no rejection "
            f"{st.in_scope_accuracy_no_rejection.value:.1%}); small talk wrong {st.small_talk_wrong.hits}")
    return system


def _jsonable(obj: object) -> object:
    if isinstance(obj, Rate):
        return obj.to_json()
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "__dataclass_fields__"):
        return {k: _jsonable(getattr(obj, k)) for k in obj.__dataclass_fields__}  # type: ignore[attr-defined]
    return obj


def format_table(results: list[VerticalResult]) -> str:
    """The before/after table of bench/eval/README.md (percent)."""
    head = ("| vertical | students | OOS recall text | OOS recall asr | unseen intents text/asr | OOS taken as a task text "
            "| in-scope acc text | in-scope acc asr | no rejection text/asr | lost to rejection text/asr "
            "| small talk wrong |")
    lines = [head, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        for name, s in r.systems.items():
            t, a = s.styles["text"], s.styles["asr"]
            lost_t = t.in_scope_accuracy_no_rejection.value - t.in_scope_accuracy.value
            lost_a = a.in_scope_accuracy_no_rejection.value - a.in_scope_accuracy.value
            lines.append(
                f"| {r.vertical} | {name} | {t.oos_recall.value:.1%} | {a.oos_recall.value:.1%} | "
                f"{t.oos_recall_unseen_intents.value:.1%} / {a.oos_recall_unseen_intents.value:.1%} | "
                f"{t.oos_taken_as_task.value:.1%} | {t.in_scope_accuracy.value:.1%} | {a.in_scope_accuracy.value:.1%} | "
                f"{t.in_scope_accuracy_no_rejection.value:.1%} / {a.in_scope_accuracy_no_rejection.value:.1%} | "
                f"{lost_t * 100:.1f} / {lost_a * 100:.1f} | {t.small_talk_wrong.hits + a.small_talk_wrong.hits}"
                f"/{t.small_talk_wrong.n + a.small_talk_wrong.n} |")
    return "\n".join(lines).replace("%", "")


def run(verticals: tuple[str, ...] = VERTICALS, quick: bool = False,
        out: str | Path | None = "bench/eval/vertical_oos.json", log: Callable[[str], None] = print,
        installed_only: bool = False) -> list[VerticalResult]:
    """Before/after per vertical; `installed_only`: the install's built students instead."""
    t0 = time.time()
    if installed_only:
        results = []
        for v in verticals:
            system = run_installed(v, quick=quick, log=log)
            results.append(VerticalResult(v, system.styles["text"].in_scope_accuracy.n,
                                          system.styles["text"].oos_recall.n, {"installed": system}))
    else:
        results = [run_vertical(v, quick=quick, log=log) for v in verticals]
    table = format_table(results)
    log(table)
    if out:
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"date": datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"), "quick": quick,
                   "seconds": round(time.time() - t0, 1), "targets": {"oos_recall": RECALL_TARGET,
                                                                      "in_scope_accuracy_lost": ACCURACY_LOSS_TARGET},
                   "results": _jsonable(results), "table": table}
        path.write_text(json.dumps(payload, indent=2, sort_keys=True))
        path.with_suffix(".md").write_text(table + "\n")
        log(f"wrote {path}")
    return results
