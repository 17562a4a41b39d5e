"""What the teacher is asked for a vertical: a list of small, individually resumable tasks.

- expand:  n utterances for one intent (flow intents, built-in intents, each FAQ entry as "faq");
- answer:  n answers to a form's question that contain one sampled slot value (the value is
           known, so the answer can be checked by parsing it back and its span labelled);
- label:   one real, unlabelled caller utterance of the vertical.

Task ids are stable (vertical content + index), so a run that stopped resumes where it stopped.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from callflows.distill.recipe import Recipe
from callflows.flow.spec import FlowSpec, SlotSpec
from callflows.nlu.builtin_intents import BUILTIN_INTENTS
from callflows.speech.textnorm import digits_words, number_words, ordinal_words, year_words

#: parse-back reference time for answer tasks (a Monday morning): relative dates resolve against it
REFERENCE = (2026, 1, 5, 9, 0)
FIRST = ("james", "maria", "robert", "linda", "michael", "susan", "david", "karen", "daniel", "nancy", "kevin",
         "priya", "wei", "carlos", "fatima", "olga", "ahmed", "grace", "luis", "hannah", "samuel", "emily")
LAST = ("smith", "johnson", "brown", "garcia", "miller", "davis", "rodriguez", "martinez", "wilson", "anderson",
        "thomas", "moore", "jackson", "lee", "white", "harris", "clark", "lewis", "walker", "young", "king")
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december")
BUILTIN_DESCRIPTIONS = {
    "affirm": "saying yes or agreeing", "deny": "saying no or disagreeing",
    "help": "asking what the assistant can do", "repeat": "asking the assistant to say that again",
    "start_over": "wanting to start the conversation over", "human": "asking to talk to a real person",
    "goodbye": "ending the call",
}


@dataclass(frozen=True)
class Task:
    id: str
    kind: str  # expand | answer | label
    n: int = 0
    intent: str | None = None
    description: str = ""
    examples: tuple[str, ...] = ()
    slot: str | None = None
    slot_type: str | None = None
    question: str = ""
    phrase: str = ""
    value: Any = None
    text: str = ""  # label: the utterance
    options: dict[str, Any] = field(default_factory=dict)


def reference_now(flow: FlowSpec) -> datetime:
    return datetime(*REFERENCE, tzinfo=ZoneInfo(flow.timezone))


def intent_tasks(flow: FlowSpec, recipe: Recipe, real_counts: dict[str, int] | None = None) -> list[Task]:
    """Expansion tasks; intents with at least recipe.expand_min_real real examples are skipped."""
    out: list[Task] = []
    real_counts = real_counts or {}
    groups: list[tuple[str, str, tuple[str, ...]]] = []
    for name, examples in BUILTIN_INTENTS.items():
        groups.append((name, BUILTIN_DESCRIPTIONS.get(name, name), examples))
    for intent in flow.intents.values():
        examples = intent.examples or intent.keywords
        if examples and not (recipe.expand_min_real and real_counts.get(intent.name, 0) >= recipe.expand_min_real):
            groups.append((intent.name, recipe.intents.get(intent.name, ""), tuple(examples)))
    faq_n = recipe.per_intent if recipe.faq_per_entry is None else recipe.faq_per_entry
    for entry in flow.faq:
        groups.append(("faq", f"asking: {entry.questions[0]}", tuple(entry.questions)))
    seen: dict[str, int] = {}
    for name, description, examples in groups:
        k = seen.get(name, 0)
        seen[name] = k + 1
        key = name if name != "faq" else f"faq.{k}"
        total = faq_n if name == "faq" else recipe.per_intent
        for b in range(-(-total // max(1, recipe.batch)) if total else 0):
            out.append(Task(f"expand:{key}:{b}", "expand", n=min(recipe.batch, total - b * recipe.batch),
                            intent=name, description=description, examples=examples))
    return out


def answer_tasks(flow: FlowSpec, recipe: Recipe) -> list[Task]:
    """Answers to each form question, each with one sampled value of the slot."""
    out: list[Task] = []
    if not recipe.per_slot:
        return out
    now = reference_now(flow)
    asked: dict[str, str] = {}
    for form in flow.forms.values():
        for step in form.steps:
            for slot in step.slots:
                asked.setdefault(slot, step.prompt)
    per_task = max(1, min(recipe.batch, 4))
    for slot_name, question in asked.items():
        spec = flow.slots.get(slot_name)
        if spec is None or spec.type in ("text", "any"):
            continue
        rng = random.Random(f"{flow.vertical}:{slot_name}")
        for b in range(max(1, -(-recipe.per_slot // per_task))):
            sample = sample_value(spec, rng, now)
            if sample is None:
                break
            phrase, value = sample
            q = question  # a templated question keeps only its text before the template part
            if "{{" in question:
                q = question.split("{{")[0].strip() or f"What is your {spec.name.replace('_', ' ')}?"
            out.append(Task(f"answer:{slot_name}:{b}", "answer", n=per_task, slot=slot_name, slot_type=spec.type,
                            question=q, phrase=phrase, value=value))
    return out


def label_tasks(texts: list[str]) -> list[Task]:
    return [Task(f"label:{i}", "label", text=t) for i, t in enumerate(texts)]


# ---- sampled slot values: (phrase the caller says, normalised value the parser must return) ------
def sample_value(spec: SlotSpec, rng: random.Random, now: datetime) -> tuple[str, Any] | None:
    t = spec.type
    if t == "enum":
        if not spec.choices:
            return None
        canonical = rng.choice(sorted(spec.choices))
        synonyms = [s for s in spec.choices[canonical] if s] or [canonical]
        return rng.choice(synonyms).lower(), canonical
    if t == "date":
        return _past_date(rng) if spec.prefer in ("past", "birth") else _future_date(rng, now.date())
    if t == "time":
        h = rng.randint(8, 17)
        m = rng.choice((0, 0, 15, 30, 45))
        return _spoken_time(rng, h, m), f"{h:02d}:{m:02d}"
    if t == "person_name":
        first, last = rng.choice(FIRST), rng.choice(LAST)
        return f"{first} {last}", f"{first.title()} {last.title()}"
    if t == "phone_number":
        digits = "555" + "".join(str(rng.randint(0, 9)) for _ in range(7))
        return digits_words(digits), digits
    if t == "digits":
        n = spec.length or rng.choice((4, 6))
        digits = "".join(str(rng.randint(0, 9)) for _ in range(n))
        return (digits_words(digits) if rng.random() < 0.7 else digits), digits
    if t == "money":
        amount = rng.choice((20, 45, 100, 120, 250, 1000, 1500))
        return f"{number_words(amount)} dollars", f"{amount:.2f}"
    if t == "number":
        n = rng.randint(1, 6)
        return number_words(n), n
    return None


def _future_date(rng: random.Random, today: date) -> tuple[str, str]:
    k = rng.randint(1, 45)
    d = today + timedelta(days=k)
    month, day = MONTHS[d.month - 1], ordinal_words(d.day)
    if k == 1 and rng.random() < 0.5:
        return "tomorrow", d.isoformat()
    forms = [f"{month} {day}", f"the {day} of {month}", f"{d.strftime('%A').lower()} {month} {day}"]
    return rng.choice(forms), d.isoformat()


def _past_date(rng: random.Random) -> tuple[str, str]:
    d = date(rng.randint(1948, 2005), rng.randint(1, 12), rng.randint(1, 28))
    month, day, year = MONTHS[d.month - 1], ordinal_words(d.day), year_words(d.year)
    forms = [f"{month} {day} {year}", f"the {day} of {month} {year}", f"{d.month}/{d.day}/{d.year}"]
    return rng.choice(forms), d.isoformat()


def _spoken_time(rng: random.Random, h: int, m: int) -> str:
    h12 = h % 12 or 12
    mer = "am" if h < 12 else "pm"
    if m == 0:
        return rng.choice((f"{number_words(h12)} {mer}", f"{number_words(h12)} o'clock in the "
                           + ("morning" if h < 12 else "afternoon")))
    if m == 30 and rng.random() < 0.5:
        return f"half past {number_words(h12)} {mer}"
    return f"{number_words(h12)} {number_words(m)} {mer}"
