"""Train the end-of-turn classifier (callflows/speech/turn_end_prosody.py) on the train voices.

One row per pause of the train split, at 300 ms of silence (when the classifier is asked):
prosody of the speech before the pause and the words heard (Whisper partial, cached by
bench/end_of_turn_pauses.py); label: the pause is the real end of the turn. Prints how it
does on the dev voices and saves the model (a pickle, never committed).

    .venv/bin/python bench/end_of_turn_train.py [--out models/built/turn_end/prosody.pkl]
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from end_of_turn_pauses import Partials, fill_partials, pauses, snapshot  # noqa: E402
from end_of_turn_set import Item, build_set  # noqa: E402

from callflows.speech.turn_end_prosody import DEFAULT_PATH, FEATURES, PROSODY_FEATURES, features  # noqa: E402

CHECK_MS = 300


def rows(items: list[Item], partials: Partials) -> tuple[np.ndarray, np.ndarray]:
    x: list[list[float]] = []
    y: list[int] = []
    for item in items:
        for pause in pauses(item):
            if pause.length_ms < CHECK_MS and not pause.final:
                continue
            partial = partials.get(item, pause)
            x.append(features(snapshot(item, pause, CHECK_MS, partial)).vector())
            y.append(int(pause.final))
    return np.asarray(x), np.asarray(y)


COLUMNS = {"all": FEATURES, "prosody": PROSODY_FEATURES,
           "words": tuple(c for c in FEATURES if c not in PROSODY_FEATURES)}


def train(out: Path = DEFAULT_PATH, columns: str = "all") -> Path:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    items = build_set(("train", "dev"))
    left = fill_partials(items, budget_s=900)
    if left:
        raise SystemExit(f"{left} partial transcripts still to decode: run bench/end_of_turn_pauses.py")
    partials = Partials()
    x, y = rows([i for i in items if i.split == "train"], partials)
    xd, yd = rows([i for i in items if i.split == "dev"], partials)
    keep = [FEATURES.index(c) for c in COLUMNS[columns]]
    x, xd = x[:, keep], xd[:, keep]
    started = time.perf_counter()
    clf = HistGradientBoostingClassifier(max_depth=3, max_iter=150, learning_rate=0.08, l2_regularization=1.0,
                                         random_state=0)
    clf.fit(x, y)
    p = clf.predict_proba(xd)[:, 1]
    print(f"{columns} features: train {len(y)} pauses ({int(y.sum())} ends), dev {len(yd)} ({int(yd.sum())} ends); "
          f"fit {time.perf_counter() - started:.1f} s; dev AUC {roc_auc_score(yd, p):.3f}, "
          f"accuracy at 0.5 {np.mean((p >= 0.5) == yd):.3f}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part")
    with open(tmp, "wb") as fh:
        pickle.dump({"model": clf, "columns": list(COLUMNS[columns])}, fh)
    tmp.replace(out)
    print(f"saved {out}")
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=DEFAULT_PATH)
    ap.add_argument("--features", choices=sorted(COLUMNS), default="all",
                    help="all, or an ablation: prosody only / words only")
    args = ap.parse_args()
    train(args.out, args.features)
