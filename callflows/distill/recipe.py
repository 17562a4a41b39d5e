"""A vertical's distillation recipe: verticals/<name>/distill.yaml (every key optional).

    per_intent: 24            # utterances the teacher writes per intent
    per_slot: 12              # answers per form slot
    faq_per_entry: 8          # questions per FAQ entry (default: per_intent)
    batch: 8                  # utterances asked for in one teacher call
    teacher: teacher          # LLM role (callflows.llm.get_llm)
    temperature: 0.9
    asr_fraction: 0.5         # share of utterances also kept in ASR style
    verify_with_teacher: 0.0  # share of kept utterances the teacher labels again (self-consistency)
    expand_min_real: 20       # intents with this many real examples in `datasets` are not expanded
    finetune_layers: 3        # fine-tune the encoder's top 3 layers (the default; 0: frozen encoder)
    finetune_epochs: 3
    finetune_max_steps: 600   # at most this many batches of 32 (bounds the build's time; 0: no bound)
    intents: {lost_or_stolen_card: "the caller's card is lost or stolen"}   # descriptions
    datasets:                 # real labelled utterances the vertical may use
      - {path: "$CALLFLOWS_DEV_DATA/banking77_train.csv", format: csv, text: text, label: category}
      - {path: banking77, format: split}   # the train part of the fixed split (callflows/eval/data.py)
    oos_datasets:             # out-of-scope negatives
      - {path: clinc150, format: split}
    oos_other_domains:        # other domains' requests as out-of-scope negatives (callflows/distill/negatives.py)
      clinc150_exclude: [banking, credit_cards]   # CLINC150 domains or intents that are this vertical's business
      clinc150_per_intent: 40
      nlupp: [hotels]         # NLU++ domains that are out of scope here
      verticals: [hotel, dental_clinic]           # other verticals whose tasks are out of scope here
    unlabelled: unlabelled.txt  # real caller utterances, one per line, for the teacher to label
    unlabelled: {path: nlupp_hotels, format: split, limit_per_label: 80}   # or a data source (labels ignored)
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from callflows.distill.negatives import OtherDomains

RECIPE_FILE = "distill.yaml"


class RecipeError(ValueError):
    """A distill.yaml that cannot be used (the message names the file and key)."""


@dataclass(frozen=True)
class DataSource:
    path: str
    format: str = "csv"  # csv | jsonl | clinc_oos | lines | split (path: banking77 | clinc150 | nlupp_hotels |
    #                      nlupp_banking | nlupp_hotel_tasks)
    text: str = "text"
    label: str = "label"
    limit_per_label: int | None = None

    def resolved(self, root: Path) -> Path:
        raw = self.path.replace("${CALLFLOWS_DEV_DATA}", "$CALLFLOWS_DEV_DATA")
        if "$CALLFLOWS_DEV_DATA" in raw:
            raw = raw.replace("$CALLFLOWS_DEV_DATA", str(dev_data_dir()))
        p = Path(os.path.expandvars(raw))
        return p if p.is_absolute() else (root / p)


@dataclass(frozen=True)
class Recipe:
    per_intent: int = 24
    per_slot: int = 12
    faq_per_entry: int | None = None  # utterances per FAQ entry (default: per_intent; 0: none)
    batch: int = 8
    teacher: str = "teacher"
    temperature: float = 0.9
    asr_fraction: float = 0.5
    verify_with_teacher: float = 0.0
    expand_min_real: int = 0  # > 0: no teacher expansion for intents with this many real labelled examples
    # > 0: fine-tune the encoder's top layers on the intents (needs torch at build time;
    # CALLFLOWS_FINETUNE=0 keeps it frozen): callflows/distill/encoder.py
    finetune_layers: int = 3
    finetune_epochs: int = 3
    # > 0: stop the fine-tuning after this many batches of 32 (the learning-rate schedule fits the
    # bound). 600 keeps the bank's fine-tuning (15,600 examples) to a few minutes on two cores
    finetune_max_steps: int = 600
    finetune_oos: bool = False  # fine-tune with the out-of-scope negatives as one more class (train.finetune_examples)
    max_tokens: int = 400
    intents: dict[str, str] = field(default_factory=dict)
    datasets: tuple[DataSource, ...] = ()
    oos_datasets: tuple[DataSource, ...] = ()
    oos_other_domains: OtherDomains | None = None  # other domains' requests as negatives (negatives.py)
    unlabelled: str | DataSource | None = None  # a file of lines, or any data source (its labels are ignored)

    @classmethod
    def load(cls, root: Path) -> "Recipe":
        path = root / RECIPE_FILE
        if not path.is_file():
            return cls()
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise RecipeError(f"{path}: not valid YAML: {exc}") from exc
        if not isinstance(raw, dict):
            raise RecipeError(f"{path}: expected a mapping at the top level")
        known = set(cls.__dataclass_fields__)
        unknown = set(raw) - known
        if unknown:
            raise RecipeError(f"{path}: unknown key(s) {sorted(unknown)} (known: {sorted(known)})")
        kwargs: dict[str, Any] = {}
        for key, value in raw.items():
            if key in ("datasets", "oos_datasets"):
                try:
                    kwargs[key] = tuple(DataSource(**item) for item in value or [])
                except TypeError as exc:
                    raise RecipeError(f"{path}: {key}: {exc}") from exc
            elif key == "unlabelled" and isinstance(value, dict):
                try:
                    kwargs[key] = DataSource(**value)
                except TypeError as exc:
                    raise RecipeError(f"{path}: {key}: {exc}") from exc
            elif key == "oos_other_domains":
                if not isinstance(value, dict):
                    raise RecipeError(f"{path}: oos_other_domains must be a mapping")
                try:
                    kwargs[key] = OtherDomains(**{k: tuple(v) if isinstance(v, list) else v for k, v in value.items()})
                except (TypeError, ValueError) as exc:
                    raise RecipeError(f"{path}: oos_other_domains: {exc}") from exc
            elif key == "intents":
                kwargs[key] = {str(k): str(v) for k, v in (value or {}).items()}
            else:
                kwargs[key] = value
        recipe = cls(**kwargs)
        if recipe.faq_per_entry is not None and (not isinstance(recipe.faq_per_entry, int) or recipe.faq_per_entry < 0):
            raise RecipeError(f"{path}: faq_per_entry must be a whole number >= 0")
        if not isinstance(recipe.finetune_oos, bool):
            raise RecipeError(f"{path}: finetune_oos must be true or false")
        for key in ("per_intent", "per_slot", "batch", "expand_min_real", "finetune_layers", "finetune_epochs",
                    "finetune_max_steps"):
            if not isinstance(getattr(recipe, key), int) or getattr(recipe, key) < 0:
                raise RecipeError(f"{path}: {key} must be a whole number >= 0")
        return recipe


def dev_data_dir() -> Path:
    from callflows.eval.data import data_dir

    try:
        return data_dir()
    except FileNotFoundError:
        return Path("/nonexistent")


_ROOM_THINGS = frozenset({"wifi", "room_ammenities", "housekeeping", "room_service", "swimming_pool", "gym", "spa",
                          "parking", "accesibility"})


def nlupp_hotel_task(intents: set[str]) -> str | None:
    """The hotel flow's task for an NLU++ hotels request, by rules over its NLU++ labels (None: not
    clearly one of book_room, change_reservation, cancel_reservation, report_problem). Why: real
    guests' requests, as the teacher-written examples are not, keep the hotel's own words from being
    read as another domain's once the student trains on thousands of other-domain negatives.
    Restaurant tables and spa treatments are not rooms; a question about a booking is not a task."""
    if intents & {"restaurant", "spa"}:
        return None
    if "booking" in intents and "cancel_close_leave_freeze" in intents:
        return "cancel_reservation"
    if "booking" in intents and "change" in intents:
        return "change_reservation"
    asks = intents & {"how", "why", "when", "how_much", "how_long", "request_info"}
    if "booking" in intents and intents & {"make_open_apply_setup_get_activate", "new"} and not asks \
            and "existing" not in intents:
        return "book_room"
    if "wrong_notworking_notshowing" in intents and intents & _ROOM_THINGS and "why" not in intents:
        return "report_problem"
    return None


def read_source(source: DataSource, root: Path) -> list[tuple[str, str]]:
    """(text, label) rows of a labelled source; [] with a warning-worthy empty list if absent."""
    rows: list[tuple[str, str]] = []
    if source.format == "split":  # training part of a fixed development split; never its validation part
        from callflows.eval import data as D

        try:
            if source.path == "banking77":
                rows = list(D.banking77_split()[0])
            elif source.path == "clinc150":
                rows = [(t, "out_of_scope") for t, _ in D.clinc_split()["oos_train"]]
            elif source.path in ("nlupp_hotels", "nlupp_banking"):  # texts only: NLU++ labels are not a flow's
                domain = source.path.split("_", 1)[1]
                rows = [(e["text"], "") for e in D.nlupp_split()[0] if e["domain"] == domain and e.get("intents")]
            elif source.path == "nlupp_hotel_tasks":  # the hotel flow's four tasks, by rules over NLU++ labels
                rows = [(e["text"], task) for e in D.nlupp_split()[0] if e["domain"] == "hotels"
                        for task in [nlupp_hotel_task(set(e.get("intents") or ()))] if task]
            else:
                raise RecipeError(f"unknown split {source.path!r} (banking77, clinc150, nlupp_hotels, nlupp_banking, "
                                  "nlupp_hotel_tasks)")
        except FileNotFoundError:
            return []
        return _limit(rows, source.limit_per_label)
    path = source.resolved(root)
    if not path.is_file():
        return []
    if source.format == "csv":
        with open(path, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                rows.append((row[source.text], row[source.label]))
    elif source.format == "jsonl":
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                item = json.loads(line)
                rows.append((item[source.text], item[source.label]))
    elif source.format == "clinc_oos":
        data = json.loads(path.read_text(encoding="utf-8"))
        for split in ("oos_train", "oos_val"):
            rows += [(t, "out_of_scope") for t, _ in data.get(split, [])]
    elif source.format == "lines":
        rows = [(line.strip(), "") for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        raise RecipeError(f"unknown data source format {source.format!r} (csv, jsonl, clinc_oos, lines, split)")
    return _limit(rows, source.limit_per_label)


def _limit(rows: list[tuple[str, str]], per_label: int | None) -> list[tuple[str, str]]:
    if not per_label:
        return rows
    seen: dict[str, int] = {}
    kept = []
    for text, label in rows:
        seen[label] = seen.get(label, 0) + 1
        if seen[label] <= per_label:
            kept.append((text, label))
    return kept
