"""Development data loaders and the fixed validation splits (data/splits/*.json, index lists only).

Splits are made once (seeded) by `make_splits()` and committed; the evaluation never trains on
a validation item. Each split file records the sha256 of the data file it indexes, and loading
refuses a split whose data file changed.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SPLITS_DIR = REPO / "data" / "splits"
SEED = 20261122


DATA_DIR_ENV = "CALLFLOWS_DEV_DATA"  # the NLU datasets folder (Banking77, CLINC150, NLU++, SGD)
# tried in order when it is unset: next to the repo, then this project's machines' shared folder,
# where CI's fresh clones (made elsewhere than next to it) find the data the install trains on
DATA_DIR_CANDIDATES = (REPO.parent / "shared" / "data" / "nlu", Path("/work/shared/data/nlu"))


def data_dir() -> Path:
    """The development datasets folder: ``$CALLFLOWS_DEV_DATA``, else the first of DATA_DIR_CANDIDATES."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env)
    for cand in DATA_DIR_CANDIDATES:
        if cand.exists():
            return cand.resolve()
    tried = ", ".join(str(c) for c in DATA_DIR_CANDIDATES)
    raise FileNotFoundError(f"development data not found: set {DATA_DIR_ENV} to the NLU datasets folder "
                            f"(shared/data/nlu; tried {tried})")


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---- raw loaders ---------------------------------------------------------------------------------
def banking77() -> list[tuple[str, str]]:
    with open(data_dir() / "banking77_train.csv", newline="") as fh:
        return [(r["text"], r["category"]) for r in csv.DictReader(fh)]


def clinc150() -> dict[str, list[tuple[str, str]]]:
    raw = json.loads((data_dir() / "clinc150_train_val.json").read_text())
    return {k: [(t, lab) for t, lab in v] for k, v in raw.items()}


def nlupp(domain: str, fold: int) -> list[dict[str, Any]]:
    return json.loads((data_dir() / "nlupp" / domain / f"fold{fold}.json").read_text())


def sgd_turns() -> list[dict[str, Any]]:
    with open(data_dir() / "sgd_services_train.jsonl") as fh:
        return [json.loads(line) for line in fh if line.strip()]


# ---- splits --------------------------------------------------------------------------------------
def make_splits(force: bool = False) -> None:
    """Write data/splits/{banking77,nlupp,sgd,clinc150}.json (seeded; idempotent unless force)."""
    SPLITS_DIR.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)
    d = data_dir()

    def write(name: str, obj: dict[str, Any]) -> None:
        path = SPLITS_DIR / f"{name}.json"
        if path.exists() and not force:
            return
        path.write_text(json.dumps(obj, separators=(",", ":")) + "\n")

    rows = banking77()
    by_label: dict[str, list[int]] = defaultdict(list)
    for i, (_, lab) in enumerate(rows):
        by_label[lab].append(i)
    val: list[int] = []
    for lab in sorted(by_label):
        idx = by_label[lab][:]
        rng.shuffle(idx)
        val += idx[: round(len(idx) * 0.2)]
    val.sort()
    write("banking77", {"file": "banking77_train.csv", "sha256": sha256_file(d / "banking77_train.csv"), "seed": SEED,
                        "note": "stratified 20% of each intent held out for validation; the rest is train",
                        "val": val})
    write("nlupp", {"files": "nlupp/{banking,hotels}/fold0-9.json", "seed": SEED,
                    "sha256": {f"{dom}/fold{k}": sha256_file(d / "nlupp" / dom / f"fold{k}.json")
                               for dom in ("banking", "hotels") for k in range(10)},
                    "note": "train on folds 0-6 of both domains, validate on folds 7-9",
                    "train_folds": list(range(7)), "val_folds": [7, 8, 9]})
    dialogues = sorted({t["dialogue_id"] for t in sgd_turns()})
    rng.shuffle(dialogues)
    write("sgd", {"file": "sgd_services_train.jsonl", "sha256": sha256_file(d / "sgd_services_train.jsonl"), "seed": SEED,
                  "note": "30% of dialogues held out for validation (whole dialogues, so no turn leaks)",
                  "val_dialogues": sorted(dialogues[: round(len(dialogues) * 0.3)])})
    write("clinc150", {"file": "clinc150_train_val.json", "sha256": sha256_file(d / "clinc150_train_val.json"),
                       "note": "the data set's own split: train + oos_train to fit, val + oos_val to validate"})


def load_split(name: str) -> dict[str, Any]:
    path = SPLITS_DIR / f"{name}.json"
    if not path.exists():
        make_splits()
    split = json.loads(path.read_text())
    if "file" in split and "sha256" in split and isinstance(split["sha256"], str):
        actual = sha256_file(data_dir() / split["file"])
        if actual != split["sha256"]:
            raise ValueError(f"{split['file']} changed since {path} was made (sha256 {actual[:12]} != {split['sha256'][:12]})")
    return split


def banking77_split() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    rows = banking77()
    val = set(load_split("banking77")["val"])
    return [r for i, r in enumerate(rows) if i not in val], [r for i, r in enumerate(rows) if i in val]


def nlupp_split() -> tuple[list[dict], list[dict]]:
    split = load_split("nlupp")
    train = [dict(e, domain=dom) for dom in ("banking", "hotels") for k in split["train_folds"] for e in nlupp(dom, k)]
    val = [dict(e, domain=dom) for dom in ("banking", "hotels") for k in split["val_folds"] for e in nlupp(dom, k)]
    return train, val


def sgd_split() -> tuple[list[dict], list[dict]]:
    val_ids = set(load_split("sgd")["val_dialogues"])
    turns = sgd_turns()
    return [t for t in turns if t["dialogue_id"] not in val_ids], [t for t in turns if t["dialogue_id"] in val_ids]


def clinc_split() -> dict[str, list[tuple[str, str]]]:
    load_split("clinc150")
    return clinc150()
