"""Train the end-of-turn classifier (callflows/speech/turn_end_prosody.py) on the train voices.

One row per pause of the train split, at 300 ms of silence (when the classifier is asked):
prosody of the speech before the pause and the words heard; label: the pause is the real end of
the turn. Prints how it does on the dev voices and saves the model (a pickle, never committed).

The words heard are either the Whisper partials (``--words partials``, cached by
bench/end_of_turn_pauses.py: ~500 decodes, minutes on 2 cores) or what the script says the
caller had said by the pause (``--words script``: no recogniser, so the install can build the
classifier in well under a minute; bench/README.md, "End of turn at 8 kHz", compares the two).

    .venv/bin/python bench/end_of_turn_train.py [--words partials|script] [--out models/built/turn_end/prosody.pkl]
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from end_of_turn_pauses import Partials, Pause, fill_partials, pauses, snapshot  # noqa: E402
from callers import voices  # noqa: E402
from end_of_turn_set import LEAD_MS, SPLITS, Item, build_set, family  # noqa: E402

from callflows.speech.turn_end_prosody import DEFAULT_PATH, FEATURES, PROSODY_FEATURES, features  # noqa: E402

CHECK_MS = 300
AT_A_CUT_MS = 250
"""A pause whose start is this close to a labelled cut is that cut (the endpointer's last voiced
frame and the segment's trimmed end differ by a frame or a consonant's tail)."""

Heard = Callable[[Item, Pause], str]
"""The words heard by a pause: the Whisper partial, or the script's words said so far."""


def said_by(item: Item, pause: Pause) -> str:
    """The script's words the caller had said when ``pause`` began: the text of the labelled cut
    it is, or inside a segment (a breath, a gap between digits) the words of the segments before
    plus the share of this segment's words its elapsed time gives."""
    if pause.final:
        return item.cuts[-1].text
    start, before = LEAD_MS, ""
    for cut in item.cuts:
        if abs(pause.voiced_end_ms - cut.at_ms) <= AT_A_CUT_MS:
            return cut.text
        if pause.voiced_end_ms < cut.at_ms:
            words = cut.text.split()[len(before.split()):]
            share = (pause.voiced_end_ms - start) / max(cut.at_ms - start, 1)
            return " ".join(before.split() + words[:max(0, min(len(words), round(share * len(words))))])
        start, before = cut.at_ms + cut.pause_ms, cut.text
    return item.cuts[-1].text


def rows(items: list[Item], heard: Heard) -> tuple[np.ndarray, np.ndarray]:
    x: list[list[float]] = []
    y: list[int] = []
    for item in items:
        for pause in pauses(item):
            if pause.length_ms < CHECK_MS and not pause.final:
                continue
            x.append(features(snapshot(item, pause, CHECK_MS, heard(item, pause))).vector())
            y.append(int(pause.final))
    return np.asarray(x), np.asarray(y)


COLUMNS = {"all": FEATURES, "prosody": PROSODY_FEATURES,
           "words": tuple(c for c in FEATURES if c not in PROSODY_FEATURES)}


def train(out: Path = DEFAULT_PATH, columns: str = "all", words: str = "partials", evaluate: bool = True) -> Path:
    """Fit on the train voices; with ``evaluate``, print the dev AUC (on Whisper partials, as
    the product hears them, whatever the training words were)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    splits = ("train", "dev") if evaluate else ("train",)
    chosen = [v for v, split in SPLITS.items() if split in splits and (family(v) != "fsdd" or voices.FSDD_DIR.is_dir())]
    if len(chosen) < sum(split in splits for split in SPLITS.values()):
        print(f"no FSDD recordings in {voices.FSDD_DIR}: training without the human digit voices")
    items = build_set(voices_=chosen)
    train_items = [i for i in items if i.split == "train"]
    need_partials = [i for i in items if words == "partials" or i.split == "dev"]
    left = fill_partials(need_partials, budget_s=900) if need_partials else 0
    if left:
        raise SystemExit(f"{left} partial transcripts still to decode: run bench/end_of_turn_pauses.py")
    partials = Partials()
    x, y = rows(train_items, partials.get if words == "partials" else said_by)
    keep = [FEATURES.index(c) for c in COLUMNS[columns]]
    x = x[:, keep]
    started = time.perf_counter()
    clf = HistGradientBoostingClassifier(max_depth=3, max_iter=150, learning_rate=0.08, l2_regularization=1.0,
                                         random_state=0)
    clf.fit(x, y)
    print(f"{columns} features, {words} words: train {len(y)} pauses ({int(y.sum())} ends); "
          f"fit {time.perf_counter() - started:.1f} s")
    if evaluate:
        xd, yd = rows([i for i in items if i.split == "dev"], partials.get)
        p = clf.predict_proba(xd[:, keep])[:, 1]
        print(f"dev {len(yd)} pauses ({int(yd.sum())} ends): AUC {roc_auc_score(yd, p):.3f}, "
              f"accuracy at 0.5 {np.mean((p >= 0.5) == yd):.3f}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part")
    with open(tmp, "wb") as fh:
        pickle.dump({"model": clf, "columns": list(COLUMNS[columns]), "words": words}, fh)
    tmp.replace(out)
    print(f"saved {out}")
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=DEFAULT_PATH)
    ap.add_argument("--features", choices=sorted(COLUMNS), default="all",
                    help="all, or an ablation: prosody only / words only")
    ap.add_argument("--words", choices=("partials", "script"), default="partials",
                    help="the words at each training pause: Whisper partials, or the script's words said so far")
    ap.add_argument("--no-eval", action="store_true", help="train only (no dev partials needed): the install's build")
    args = ap.parse_args()
    train(args.out, args.features, args.words, evaluate=not args.no_eval)
