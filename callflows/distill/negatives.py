"""Out-of-scope negatives from other domains, for a vertical's student, with their held-out part.

Why: a student whose out-of-scope class saw only CLINC150's 100 `oos_train` questions and 30
generic sentences reads many other-domain requests ("book me a flight", "how long do i boil an
egg", "i want to book a room" at the bank) as one of its own intents and leads the caller into the
wrong form. Its rejection needs examples of what callers of other businesses ask. Each source here
is split once into a part the student trains on and a held-out part the evaluation
(callflows/eval/vertical_oos.py) measures recall on, by the same functions, so the two never meet:

- CLINC150 (CC BY 3.0), its ten domains (the data set's own domain list, below): the `train` rows
  of every intent the vertical does not exclude train, the `val` rows are held out. A fixed fifth
  of the intents (`UNSEEN_INTENTS`) never train at all: their `val` rows measure recall on kinds of
  request the student has not seen.
- NLU++ (CC BY 4.0) banking or hotels requests: folds 0-6 train, folds 7-9 held out (the fixed
  development split). Only examples with a domain intent ("is the pool open", not a bare "yes").
- Another vertical's own tasks (its flow examples and distilled utterances of its flow intents,
  never its built-in intents or FAQ questions, which every vertical shares): a fifth of the
  teacher's batches (and of the flow's examples) is held out, by batch so that an utterance and
  its ASR-style copy land on the same side.

Never a negative: CLINC150 intents every vertical answers itself (greeting, goodbye, thanks, yes,
no, "are you a bot", repeat, "what can i ask you", cancel) and location questions (directions,
current location, distance) that sit too close to a vertical's "where are you located".
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from callflows.nlu.values import normalize_asr

# CLINC150's domains (domains.json of the data set, Larson et al. 2019), 15 intents each.
CLINC150_DOMAINS: dict[str, tuple[str, ...]] = {
    "banking": ("transfer", "transactions", "balance", "freeze_account", "pay_bill", "bill_balance", "bill_due",
                "interest_rate", "routing", "min_payment", "order_checks", "pin_change", "report_fraud",
                "account_blocked", "spending_history"),
    "credit_cards": ("credit_score", "report_lost_card", "credit_limit", "rewards_balance", "new_card",
                     "application_status", "card_declined", "international_fees", "apr", "redeem_rewards",
                     "credit_limit_change", "damaged_card", "replacement_card_duration", "improve_credit_score",
                     "expiration_date"),
    "kitchen_dining": ("recipe", "restaurant_reviews", "calories", "nutrition_info", "restaurant_suggestion",
                       "ingredients_list", "ingredient_substitution", "cook_time", "food_last", "meal_suggestion",
                       "restaurant_reservation", "confirm_reservation", "how_busy", "cancel_reservation",
                       "accept_reservations"),
    "home": ("shopping_list", "shopping_list_update", "next_song", "play_music", "update_playlist", "todo_list",
             "todo_list_update", "calendar", "calendar_update", "what_song", "order", "order_status", "reminder",
             "reminder_update", "smart_home"),
    "auto_commute": ("traffic", "directions", "gas", "gas_type", "distance", "current_location", "mpg",
                     "oil_change_when", "oil_change_how", "jump_start", "uber", "schedule_maintenance",
                     "last_maintenance", "tire_pressure", "tire_change"),
    "travel": ("book_flight", "book_hotel", "car_rental", "travel_suggestion", "travel_alert",
               "travel_notification", "carry_on", "timezone", "vaccines", "translate", "flight_status",
               "international_visa", "lost_luggage", "plug_type", "exchange_rate"),
    "utility": ("time", "alarm", "share_location", "find_phone", "weather", "text", "spelling", "make_call", "timer",
                "date", "calculator", "measurement_conversion", "flip_coin", "roll_dice", "definition"),
    "work": ("direct_deposit", "pto_request", "taxes", "payday", "w2", "pto_balance", "pto_request_status",
             "next_holiday", "insurance", "insurance_change", "schedule_meeting", "pto_used", "meeting_schedule",
             "rollover_401k", "income"),
    "small_talk": ("greeting", "goodbye", "tell_joke", "where_are_you_from", "how_old_are_you", "what_is_your_name",
                   "who_made_you", "thank_you", "what_can_i_ask_you", "what_are_your_hobbies", "do_you_have_pets",
                   "are_you_a_bot", "meaning_of_life", "who_do_you_work_for", "fun_fact"),
    "meta": ("change_ai_name", "change_user_name", "cancel", "user_name", "reset_settings", "whisper_mode", "repeat",
             "no", "yes", "maybe", "change_language", "change_accent", "change_volume", "change_speed",
             "sync_device"),
}
CLINC150_DOMAIN_OF = {intent: domain for domain, intents in CLINC150_DOMAINS.items() for intent in intents}

# answered in every vertical by its built-in intents and small talk (callflows/nlu/builtin_intents.py,
# smalltalk.py), or too close to every vertical's "where are you located"
NEVER_NEGATIVE = frozenset({"greeting", "goodbye", "thank_you", "are_you_a_bot", "what_can_i_ask_you", "repeat",
                            "yes", "no", "maybe", "cancel", "directions", "current_location", "distance"})

# A fixed fifth of each domain's intents (the 3rd, 8th and 13th in the data set's order) never
# trains: the evaluation's "unseen intents" are requests of a kind the student has not seen.
UNSEEN_INTENTS = frozenset(intents[i] for intents in CLINC150_DOMAINS.values() for i in (2, 7, 12))

NLUPP_DOMAINS = ("banking", "hotels")
HELDOUT_BUCKETS = 5  # one bucket in five of a vertical's batches is held out


@dataclass(frozen=True)
class OtherDomains:
    """distill.yaml `oos_other_domains:` which other domains' requests a vertical rejects.

    `clinc150_exclude`: CLINC150 domains or intents that are this vertical's own business (the
    bank: banking, credit_cards); `clinc150_per_intent`: training rows taken per CLINC150 intent
    (a few dozen keep the build short: the evaluation shows recall flattening beyond that);
    `nlupp`: NLU++ domains whose requests are out of scope here; `nlupp_exclude`: NLU++ intents
    too close to this vertical (a bank's "appointment" at a dental clinic); `verticals`: other
    verticals whose tasks are out of scope here; `asr_copies`: also train on one ASR-style copy of
    each negative, as the in-scope examples are (else a filler word alone reads as in scope)."""

    clinc150_exclude: tuple[str, ...] = ()
    clinc150_per_intent: int = 40
    nlupp: tuple[str, ...] = ()
    nlupp_exclude: tuple[str, ...] = ()
    verticals: tuple[str, ...] = ()
    asr_copies: bool = True

    def __post_init__(self) -> None:
        unknown = [x for x in self.clinc150_exclude if x not in CLINC150_DOMAINS and x not in CLINC150_DOMAIN_OF]
        if unknown:
            raise ValueError(f"clinc150_exclude: unknown CLINC150 domain(s) or intent(s) {unknown}")
        bad = [d for d in self.nlupp if d not in NLUPP_DOMAINS]
        if bad:
            raise ValueError(f"nlupp: unknown NLU++ domain(s) {bad} (known: {', '.join(NLUPP_DOMAINS)})")
        if not isinstance(self.clinc150_per_intent, int) or self.clinc150_per_intent < 0:
            raise ValueError("clinc150_per_intent must be a whole number >= 0")

    def clinc150_intents(self) -> list[str]:
        """The CLINC150 intents whose requests are out of scope for this vertical, in the data set's order."""
        excluded = set(NEVER_NEGATIVE) | set(self.clinc150_exclude)
        return [i for d, intents in CLINC150_DOMAINS.items() if d not in self.clinc150_exclude
                for i in intents if i not in excluded]


@dataclass(frozen=True)
class Negative:
    """One out-of-scope request and where it comes from ("clinc150:travel", "nlupp:hotels",
    "vertical:hotel"); `unseen`: of a CLINC150 intent that never trains."""

    text: str
    source: str
    unseen: bool = False


def stable_hash(key: str) -> int:
    """A number for `key` that is the same in every process (Python's hash() is not)."""
    return int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:15], 16)


def clinc150_negatives(spec: OtherDomains, part: str) -> list[Negative]:
    """`part` "train": up to `clinc150_per_intent` train rows of each seen intent (evenly spread over
    the intent's rows); "heldout": every val row of the seen and the unseen intents."""
    from callflows.eval.data import clinc_split

    split = clinc_split()
    wanted = set(spec.clinc150_intents())
    rows = split["train"] if part == "train" else split["val"]
    by_intent: dict[str, list[str]] = {}
    for text, intent in rows:
        if intent in wanted:
            by_intent.setdefault(intent, []).append(text)
    out: list[Negative] = []
    for intent in spec.clinc150_intents():
        texts = by_intent.get(intent, [])
        unseen = intent in UNSEEN_INTENTS
        if part == "train":
            if unseen or not spec.clinc150_per_intent:
                continue
            step = max(1, len(texts) // spec.clinc150_per_intent)
            texts = texts[::step][: spec.clinc150_per_intent]
        out += [Negative(t, f"clinc150:{CLINC150_DOMAIN_OF[intent]}", unseen) for t in texts]
    return out


def nlupp_negatives(spec: OtherDomains, part: str) -> list[Negative]:
    """NLU++ requests of the other domains: the train folds or the validation folds."""
    if not spec.nlupp:
        return []
    from callflows.eval.data import nlupp_split

    ontology = _nlupp_ontology()
    train, val = nlupp_split()
    excluded = set(spec.nlupp_exclude)
    out = []
    for e in train if part == "train" else val:
        dom = e["domain"]
        intents = e.get("intents") or []
        if dom not in spec.nlupp or excluded & set(intents):
            continue
        if any(dom in ontology.get(i, ()) for i in intents):  # a request of that domain, not a bare "yes"
            out.append(Negative(e["text"], f"nlupp:{dom}"))
    return out


def _nlupp_ontology() -> dict[str, tuple[str, ...]]:
    from callflows.eval.data import data_dir

    raw = json.loads((data_dir() / "nlupp" / "ontology.json").read_text(encoding="utf-8"))
    return {name: tuple(info.get("domain", ())) for name, info in raw["intents"].items()}


def vertical_negatives(spec: OtherDomains, part: str, verticals_root: Path) -> list[Negative]:
    """Other verticals' task requests (flow examples and distilled utterances of flow intents)."""
    from callflows.distill.datafile import DATA_FILE, DistilledFile
    from callflows.flow.loader import load_flow

    out = []
    for name in spec.verticals:
        root = verticals_root / name
        if not (root / "flow.yaml").is_file():
            raise ValueError(f"oos_other_domains: no vertical {name!r} in {verticals_root}")
        flow = load_flow(root / "flow.yaml")
        rows = [(e, f"flow:{e}") for intent in flow.intents.values() for e in (intent.examples or ())]
        rows += [(ex.text, f"task:{ex.task}") for ex in DistilledFile(root / DATA_FILE).examples()
                 if ex.intent in flow.intents and not ex.slots]
        held = part != "train"
        out += [Negative(t, f"vertical:{name}") for t, key in rows if (stable_hash(f"{name}:{key}") % HELDOUT_BUCKETS == 0) == held]
    return out


def other_domain_negatives(spec: OtherDomains, part: str, verticals_root: Path) -> list[Negative]:
    """Every other-domain negative of `part` ("train" or "heldout"), normalised as a call's text
    is (callflows.nlu.values.normalize_asr), without duplicates."""
    if part not in ("train", "heldout"):
        raise ValueError(f"part must be 'train' or 'heldout', not {part!r}")
    found = (clinc150_negatives(spec, part) + nlupp_negatives(spec, part)
             + vertical_negatives(spec, part, verticals_root))
    seen: set[str] = set()
    if part == "heldout":  # the data sets repeat a few sentences across their splits: never measure one trained on
        seen = {n.text for n in other_domain_negatives(spec, "train", verticals_root)}
    out = []
    for n in found:
        text = normalize_asr(n.text)
        if text and text not in seen:
            seen.add(text)
            out.append(Negative(text, n.source, n.unseen))
    return out
