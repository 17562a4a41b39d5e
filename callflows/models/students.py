"""Which student each vertical has built (fine-tuned or frozen encoder), for `callflows models status`.

Read from the model card (card.json) that callflows/distill/train.py writes next to the student,
so the answer is what the folder holds, not what the install meant to build.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class StudentStatus:
    vertical: str
    present: bool
    encoder: str  # "fine-tuned", "frozen", or "unknown" (a card written before it said so)
    detail: str  # e.g. "top 3 layers, 3 epochs", or why the card could not be read
    date: str | None
    size: int | None
    path: Path

    def as_dict(self) -> dict[str, str | int | bool | None]:
        return {"kind": "student", "vertical": self.vertical, "present": self.present, "encoder": self.encoder,
                "detail": self.detail, "date": self.date, "size": self.size, "path": str(self.path)}


def student_status(vertical: str, folder: Path) -> StudentStatus:
    card_file = folder / "card.json"
    if not (folder / "student.pkl").is_file() or not card_file.is_file():
        return StudentStatus(vertical, False, "-", "not built (scripts/install.sh students)", None, None, folder)
    try:
        card = json.loads(card_file.read_text())
        enc = card.get("training", {}).get("encoder") or {}
    except (OSError, ValueError, AttributeError) as exc:
        return StudentStatus(vertical, True, "unknown", f"card.json unreadable: {exc}", None, None, folder)
    kind = enc.get("kind")
    if kind == "finetuned":
        encoder, detail = "fine-tuned", f"top {enc.get('layers')} layers, {enc.get('epochs')} epochs"
        if enc.get("max_steps"):
            detail += f", at most {enc['max_steps']} steps"
    elif kind == "frozen":
        encoder, detail = "frozen", "CALLFLOWS_FINETUNE=0, or torch missing when it was built"
    else:
        encoder, detail = "unknown", "built before the card recorded the encoder"
    return StudentStatus(vertical, True, encoder, detail, card.get("date"), card.get("size_bytes"), folder)


def all_student_status(verticals: list[str], built: Path) -> list[StudentStatus]:
    return [student_status(v, built / v / "student") for v in verticals]
