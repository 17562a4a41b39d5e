"""Turn a Rasa 3.x project into a Callflows vertical skeleton (flow.yaml + knowledge.yaml).

What maps to what:

* intents and their NLU examples -> ``intents`` (entity annotations such as ``[Tuesday](date)``
  or ``[NYC]{"entity": "city", "value": "new york"}`` are reduced to their text);
  retrieval intents (``faq/ask_hours``) with their ``utter_faq/ask_hours`` answers -> knowledge.yaml;
* slots -> ``slots``: ``categorical`` -> ``enum`` (values as choices, with the NLU synonyms of each
  value), ``bool`` -> ``enum`` yes/no, ``text``/``float`` -> a type guessed from the slot name,
  anything else -> ``any``;
* forms -> ``forms``: ``required_slots`` become steps whose prompt is ``utter_ask_<form>_<slot>`` or
  ``utter_ask_<slot>`` (other text variants become reprompts); the trigger intent and the submit
  action come from the rules and stories;
* responses ``utter_x`` -> ``x`` with Rasa's ``{slot}`` turned into Jinja's ``{{ slot }}``; a variable
  that is not a slot becomes a slot of type ``any``;
* custom actions are listed in a comment at the top: the project's actions.py runs unchanged.

The result is validated with :func:`callflows.flow.loader.load_flow`.
"""

from __future__ import annotations

import json
import keyword
import re
from pathlib import Path
from typing import Any

import yaml
from jinja2.exceptions import TemplateError

from callflows.flow.errors import FlowErrors
from callflows.flow.loader import load_flow
from callflows.flow.templates import BUILTIN_VARIABLES, template_variables
from callflows.nlu.builtin_intents import BUILTIN_INTENTS

FLOW_FILE = "flow.yaml"
KNOWLEDGE_FILE = "knowledge.yaml"

# Rasa's own slots and intents that have no meaning in a flow.
RASA_INTERNAL_SLOTS = {"requested_slot", "session_started_metadata"}
RASA_INTERNAL_INTENTS = {"nlu_fallback", "session_start", "restart", "back", "out_of_scope_fallback"}

_ANNOTATION = re.compile(r"\[([^\]]+)\](\(([^)]*)\)|(\{[^}]*\}))")
_RASA_VARIABLE = re.compile(r"\{([^\n{}]+?)\}")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_JINJA_WORDS = {"and", "or", "not", "in", "is", "if", "else", "true", "false", "none",
                "True", "False", "None", "for", "recursive"}


class RasaImportError(Exception):
    """The project cannot be imported (no domain, invalid YAML, ...); the message says why."""


# --------------------------------------------------------------------------------------------
# reading the project


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RasaImportError(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RasaImportError(f"{where}: invalid YAML: {problem}") from None


def _yml_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in (".yml", ".yaml"))


def _merge_domain(into: dict[str, Any], part: dict[str, Any]) -> None:
    for key, value in part.items():
        if key not in into or into[key] is None:
            into[key] = value
        elif isinstance(into[key], list) and isinstance(value, list):
            into[key] = into[key] + value
        elif isinstance(into[key], dict) and isinstance(value, dict):
            into[key] = {**into[key], **value}
        else:
            into[key] = value


def read_domain(project_dir: Path) -> dict[str, Any]:
    """domain.yml, or every yml file of a domain/ folder merged."""
    for name in ("domain.yml", "domain.yaml"):
        path = project_dir / name
        if path.is_file():
            data = _read_yaml(path)
            if not isinstance(data, dict):
                raise RasaImportError(f"{path}: invalid domain: must be a mapping with intents, slots, "
                                      "responses, forms")
            files = [path]
            break
    else:
        folder = project_dir / "domain"
        if not folder.is_dir():
            raise RasaImportError(
                f"no Rasa domain in {project_dir}: expected domain.yml or a domain/ folder of yml files"
            )
        files = _yml_files(folder)
        if not files:
            raise RasaImportError(f"no Rasa domain in {project_dir}: the domain/ folder has no yml files")
        data = {}
        for path in files:
            part = _read_yaml(path)
            if part is None:
                continue
            if not isinstance(part, dict):
                raise RasaImportError(f"{path}: invalid domain: must be a mapping")
            _merge_domain(data, part)
    known = {"intents", "entities", "slots", "responses", "forms", "actions"}
    if not known & set(data):
        raise RasaImportError(f"{files[0]}: invalid domain: no intents, slots, responses or forms")
    for key in ("intents", "entities", "actions"):
        if data.get(key) is not None and not isinstance(data[key], list):
            raise RasaImportError(f"{files[0]}: invalid domain: '{key}' must be a list")
    for key in ("slots", "responses", "forms"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise RasaImportError(f"{files[0]}: invalid domain: '{key}' must be a mapping")
    return data


def read_training_data(project_dir: Path) -> tuple[list[dict], list[dict], list[dict]]:
    """(nlu items, rules, stories) from every yml file under data/."""
    nlu: list[dict] = []
    rules: list[dict] = []
    stories: list[dict] = []
    folder = project_dir / "data"
    if not folder.is_dir():
        return nlu, rules, stories
    for path in _yml_files(folder):
        data = _read_yaml(path)
        if not isinstance(data, dict):
            continue
        for key, out in (("nlu", nlu), ("rules", rules), ("stories", stories)):
            items = data.get(key)
            if isinstance(items, list):
                out.extend(item for item in items if isinstance(item, dict))
    return nlu, rules, stories


# --------------------------------------------------------------------------------------------
# NLU


def _example_lines(examples: Any) -> list[str]:
    """The examples of one NLU item: a `- ` block string, or a list of strings / {text: ...}."""
    if isinstance(examples, str):
        lines = []
        for raw in examples.splitlines():
            line = raw.strip()
            if line.startswith("- "):
                lines.append(line[2:].strip())
            elif line == "-":
                continue
        return [line for line in lines if line]
    if isinstance(examples, list):
        out = []
        for item in examples:
            if isinstance(item, dict):
                item = item.get("text")
            if isinstance(item, (str, int, float)) and str(item).strip():
                out.append(str(item).strip())
        return out
    return []


def strip_annotations(example: str, synonyms: dict[str, set[str]] | None = None) -> str:
    """'[Tuesday](date)' -> 'Tuesday'; `[NYC](city:new york)` and JSON annotations with a "value"
    also record 'NYC' as a synonym of 'new york' in `synonyms`."""

    def replace(match: re.Match) -> str:
        text = match.group(1)
        value = None
        if match.group(3) is not None:  # (entity) or (entity:value)
            inner = match.group(3)
            if ":" in inner:
                value = inner.split(":", 1)[1].strip()
        else:
            try:
                spec = json.loads(match.group(4))
            except ValueError:
                spec = None
            if isinstance(spec, dict) and spec.get("value") is not None:
                value = str(spec["value"])
        if synonyms is not None and value and value.lower() != text.lower():
            synonyms.setdefault(value.lower(), set()).add(text)
        return text

    return " ".join(_ANNOTATION.sub(replace, example).split())


def collect_nlu(items: list[dict], annotated: dict[str, int] | None = None
                ) -> tuple[dict[str, list[str]], dict[str, set[str]]]:
    """(intent -> examples in order, synonym value (lower case) -> texts); `annotated` counts
    the examples with entity annotations per intent."""
    examples: dict[str, list[str]] = {}
    synonyms: dict[str, set[str]] = {}
    for item in items:
        if "intent" in item:
            name = str(item["intent"])
            seen = examples.setdefault(name, [])
            for line in _example_lines(item.get("examples")):
                if annotated is not None and _ANNOTATION.search(line):
                    annotated[name] = annotated.get(name, 0) + 1
                text = strip_annotations(line, synonyms)
                if text and text not in seen:
                    seen.append(text)
        elif "synonym" in item:
            value = str(item["synonym"])
            for line in _example_lines(item.get("examples")):
                if line.lower() != value.lower():
                    synonyms.setdefault(value.lower(), set()).add(line)
    return examples, synonyms


# --------------------------------------------------------------------------------------------
# slots


def _words(name: str) -> list[str]:
    return [w for w in re.split(r"[^a-z0-9]+", name.lower()) if w]


MONEY_WORDS = {"amount", "price", "money", "cost", "fee", "payment", "balance", "total", "budget"}
DIGITS_WORDS = {"zip", "zipcode", "postcode", "ssn", "pin", "last4", "account", "acct"}
NOT_PERSON = {"company", "business", "product", "street", "city", "store", "pet", "user", "file",
              "account", "restaurant", "hotel", "item", "brand", "bank"}


def guess_text_type(name: str) -> dict[str, Any]:
    """Slot spec fields for a Rasa text slot, guessed from its name (or an entity's name)."""
    words = _words(name)
    ws = set(words)
    joined = "_".join(words)
    birth = bool(ws & {"birth", "dob", "birthday", "birthdate"})
    if "datetime" in ws or ({"date", "time"} <= ws):
        return {"type": "datetime"}
    if ws & {"date", "day", "dob", "birthday", "birthdate"} or any(w.endswith("date") for w in words):
        spec: dict[str, Any] = {"type": "date"}
        if birth:
            spec.update(prefer="birth", pii=True)
        return spec
    if "time" in ws:
        return {"type": "time"}
    if ws & {"phone", "telephone", "mobile", "cell", "callback"} or "phone" in joined:
        return {"type": "phone_number", "pii": True}
    if ("name" in ws or joined.endswith("name")) and not ws & NOT_PERSON:
        return {"type": "person_name"}
    if ws & {"email", "mail"}:
        return {"type": "text", "pii": True}
    last4 = "last4" in ws or "last_four" in joined or "last_4" in joined
    if last4 or ws & DIGITS_WORDS:
        spec = {"type": "digits", "pii": True}
        if last4:
            spec["length"] = 4
        elif ws & {"zip", "zipcode"}:
            spec["length"] = 5
        return spec
    if ws & MONEY_WORDS:
        return {"type": "money"}
    return {"type": "text"}


def _slot_entities(body: dict[str, Any]) -> list[str]:
    mappings = body.get("mappings")
    out = []
    for m in mappings if isinstance(mappings, list) else []:
        if isinstance(m, dict) and m.get("type") == "from_entity" and m.get("entity"):
            out.append(str(m["entity"]))
    return out


def convert_slot(name: str, body: Any, synonyms: dict[str, set[str]]) -> dict[str, Any]:
    body = body if isinstance(body, dict) else {}
    rasa_type = str(body.get("type", "any"))
    if rasa_type == "categorical":
        values = [str(v) for v in body.get("values") or [] if v is not None and str(v) != "__other__"]
        if values:
            choices = {}
            for value in values:
                found = sorted(synonyms.get(value.lower(), set()), key=str.lower)
                spoken = {value.lower(), value.lower().replace("_", " ")}
                choices[value] = [s for s in found if s.lower() not in spoken]
            return {"type": "enum", "choices": choices}
        return {"type": "text", "description": "Rasa categorical slot without values"}
    if rasa_type == "bool":
        return {"type": "enum",
                "choices": {"yes": ["yes", "yeah", "yep", "true"], "no": ["no", "nope", "false"]},
                "description": "Rasa bool slot: actions now see 'yes' or 'no'"}
    if rasa_type == "text":
        spec = guess_text_type(name)
        if spec["type"] == "text":  # try the entities it is filled from
            for entity in _slot_entities(body):
                by_entity = guess_text_type(entity)
                if by_entity["type"] != "text":
                    return by_entity
        return spec
    if rasa_type == "float":
        if set(_words(name)) & MONEY_WORDS:
            return {"type": "money"}
        return {"type": "text", "description": "Rasa float slot"}
    return {"type": "any"}


# --------------------------------------------------------------------------------------------
# responses and templates


def _needs_raw(text: str) -> bool:
    return any(tok in text for tok in ("{{", "{%", "{#", "}}", "%}", "#}"))


def _literal(text: str) -> str:
    return "{% raw %}" + text + "{% endraw %}" if _needs_raw(text) else text


def convert_template(text: str, jinja: bool = False) -> str:
    """Rasa's '{slot}' -> Jinja '{{ slot }}'; other text stays literal."""
    if jinja:
        try:
            template_variables(text)
            return text
        except TemplateError:
            return _literal(text)
    out: list[str] = []
    pos = 0
    for match in _RASA_VARIABLE.finditer(text):
        name = match.group(1).strip()
        if not _IDENTIFIER.match(name) or name in _JINJA_WORDS or keyword.iskeyword(name):
            continue  # not something Jinja can name: stays literal text
        out.append(_literal(text[pos:match.start()]))
        out.append("{{ " + name + " }}")
        pos = match.end()
    out.append(_literal(text[pos:]))
    result = "".join(out)
    try:
        template_variables(result)
    except TemplateError:
        return "{% raw %}" + text.replace("{% endraw %}", "") + "{% endraw %}"
    return result


def response_texts(variants: Any) -> tuple[list[str], list[str]]:
    """(texts as Jinja templates, button titles) of a Rasa response."""
    texts: list[str] = []
    buttons: list[str] = []
    if isinstance(variants, (str, dict)):
        variants = [variants]
    for variant in variants if isinstance(variants, list) else []:
        if isinstance(variant, str):
            variant = {"text": variant}
        if not isinstance(variant, dict):
            continue
        meta = variant.get("metadata")
        jinja = isinstance(meta, dict) and meta.get("template") == "jinja"
        text = variant.get("text")
        if isinstance(text, (str, int, float)) and str(text).strip():
            converted = convert_template(" ".join(str(text).split()), jinja=jinja)
            if converted not in texts:
                texts.append(converted)
        for button in variant.get("buttons") or []:
            if isinstance(button, dict) and button.get("title") and str(button["title"]) not in buttons:
                buttons.append(str(button["title"]))
    return texts, buttons


def _speakable_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


# --------------------------------------------------------------------------------------------
# rules and stories


def _step_intent(step: dict[str, Any]) -> str | None:
    if "intent" in step:
        return str(step["intent"])
    if "or" in step and isinstance(step["or"], list):
        for alt in step["or"]:
            if isinstance(alt, dict) and "intent" in alt:
                return str(alt["intent"])
    return None


def analyse_conversations(conversations: list[dict], forms: set[str]) -> dict[str, Any]:
    """Form triggers, form submit actions, intent -> utter_* and intent -> custom action."""
    triggers: dict[str, str] = {}
    submits: dict[str, str] = {}
    intent_responses: dict[str, str] = {}
    intent_actions: dict[str, str] = {}
    after_submit: dict[str, list[str]] = {}
    for conv in conversations:
        current: str | None = None
        condition = conv.get("condition")
        for cond in condition if isinstance(condition, list) else []:
            if isinstance(cond, dict) and cond.get("active_loop") in forms:
                current = str(cond["active_loop"])
        steps = conv.get("steps")
        last_intent: str | None = None
        first_action_after_intent = False
        pending_submit: str | None = None
        submitted: str | None = None
        turns = 0
        context_free = False
        for step in steps if isinstance(steps, list) else []:
            if not isinstance(step, dict):
                continue
            intent = _step_intent(step)
            if intent is not None:
                last_intent, first_action_after_intent, pending_submit, submitted = intent, True, None, None
                turns += 1
                # what a rule does after an intent holds anywhere; a story's, only for its opening turn
                context_free = (turns == 1) if "story" in conv else not condition
                continue
            if "active_loop" in step:
                loop = step["active_loop"]
                if loop is None:
                    pending_submit, current = current, None
                elif str(loop) in forms:
                    current = str(loop)
                continue
            action = step.get("action")
            if action is None:
                continue
            action = str(action)
            if action in forms:
                current = action
                if last_intent and first_action_after_intent:
                    triggers.setdefault(action, last_intent)
            elif pending_submit and action.startswith("action_"):
                submits.setdefault(pending_submit, action)
                submitted, pending_submit = pending_submit, None
            elif submitted and action.startswith("utter_"):
                follow = after_submit.setdefault(submitted, [])
                if action not in follow:
                    follow.append(action)
            elif last_intent and first_action_after_intent and current is None and context_free:
                if action.startswith("utter_"):
                    intent_responses.setdefault(last_intent, action)
                elif action != "action_listen":
                    intent_actions.setdefault(last_intent, action)
            first_action_after_intent = False
    return {"triggers": triggers, "submits": submits, "intent_responses": intent_responses,
            "intent_actions": intent_actions, "after_submit": after_submit}


# --------------------------------------------------------------------------------------------
# forms


def _required_slots(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return []
    required = body.get("required_slots")
    if required is None:  # Rasa 2.0: slot mappings right under the form name
        required = {k: v for k, v in body.items() if k not in ("ignored_intents",)}
    if isinstance(required, dict):
        return [str(k) for k in required]
    if isinstance(required, list):
        return [str(k) for k in required if isinstance(k, (str, int))]
    return []


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    if slug and slug[0].isdigit():
        slug = "v_" + slug
    return slug or "rasa_import"


# --------------------------------------------------------------------------------------------
# the import


def build_vertical(project_dir: Path, name: str) -> tuple[dict[str, Any], dict[str, Any] | None, list[str]]:
    """(flow document, knowledge document or None, header comment lines)."""
    domain = read_domain(project_dir)
    nlu_items, rules, stories = read_training_data(project_dir)
    annotated: dict[str, int] = {}
    examples, synonyms = collect_nlu(nlu_items, annotated)
    notes: list[str] = []

    rasa_responses: dict[str, Any] = domain.get("responses") or {}
    rasa_forms: dict[str, Any] = domain.get("forms") or {}
    rasa_slots: dict[str, Any] = domain.get("slots") or {}
    custom_actions = [str(a) for a in domain.get("actions") or [] if isinstance(a, (str, int))]
    conv = analyse_conversations(rules + stories, set(map(str, rasa_forms)))

    # intents: the domain's order first, then any only found in the NLU data
    intent_names: list[str] = []
    for item in domain.get("intents") or []:
        iname = next(iter(item)) if isinstance(item, dict) and item else item
        if isinstance(iname, (str, int)) and str(iname) not in intent_names:
            intent_names.append(str(iname))
    intent_names += [n for n in examples if n not in intent_names]

    # retrieval intents (faq/ask_hours) -> knowledge entries
    faq_entries: list[dict[str, Any]] = []
    retrieval_bases: set[str] = set()
    faq_ids: set[str] = set()
    for iname in intent_names:
        if "/" not in iname:
            continue
        base, sub = iname.split("/", 1)
        retrieval_bases.add(base)
        texts, _ = response_texts(rasa_responses.get(f"utter_{iname}"))
        questions = examples.get(iname, [])
        if not texts or not questions:
            notes.append(f"retrieval intent {iname}: skipped (needs both NLU examples and utter_{iname})")
            continue
        eid = slugify(sub) if base == "faq" else slugify(f"{base}_{sub}")
        while eid in faq_ids:
            eid += "_2"
        faq_ids.add(eid)
        faq_entries.append({"id": eid, "questions": questions, "answer": texts[0]})

    # responses; the utter_ask_* ones used as form prompts are taken by the forms below
    prompt_responses: set[str] = set()
    for fname, fbody in rasa_forms.items():
        for slot in _required_slots(fbody):
            for rname in (f"utter_ask_{fname}_{slot}", f"utter_ask_{slot}"):
                if rname in rasa_responses:
                    prompt_responses.add(rname)

    # slots
    slots: dict[str, dict[str, Any]] = {}
    for sname, body in rasa_slots.items():
        if str(sname) in RASA_INTERNAL_SLOTS:
            continue
        slots[str(sname)] = convert_slot(str(sname), body, synonyms)

    # forms
    forms: dict[str, dict[str, Any]] = {}
    for fname, fbody in rasa_forms.items():
        fname = str(fname)
        steps = []
        for slot in _required_slots(fbody):
            if slot not in slots:
                slots[slot] = guess_text_type(slot)
                notes.append(f"slot {slot}: required by form {fname} but not in the domain; "
                             f"added as {slots[slot]['type']}")
            texts: list[str] = []
            buttons: list[str] = []
            for rname in (f"utter_ask_{fname}_{slot}", f"utter_ask_{slot}"):  # Rasa's order
                if rname in rasa_responses:
                    more_texts, more_buttons = response_texts(rasa_responses[rname])
                    texts += [t for t in more_texts if t not in texts]
                    buttons += [b for b in more_buttons if b not in buttons]
            if not texts:
                texts = [f"Please tell me your {' '.join(_words(slot)) or slot}."]
            step: dict[str, Any] = {"slot": slot, "prompt": texts[0]}
            reprompts = texts[1:]
            if buttons:
                reprompts.append(f"You can say {_speakable_list(buttons)}.")
            if reprompts:
                step["reprompts"] = reprompts
            steps.append(step)
        if not steps:
            notes.append(f"form {fname}: skipped (no required_slots)")
            continue
        form: dict[str, Any] = {}
        trigger = conv["triggers"].get(fname)
        if trigger and trigger in examples:
            form["intent"] = trigger
        else:
            notes.append(f"form {fname}: no rule or story with '- intent: X' then '- action: {fname}'; "
                         "set its intent:")
        form["steps"] = steps
        submit = conv["submits"].get(fname)
        if submit:
            form["action"] = submit
            for utter in conv["after_submit"].get(fname, []):
                notes.append(f"form {fname}: Rasa says {utter} after {submit}; have the action say it "
                             f"(dispatcher.utter_message(response=\"{utter}\"))")
        else:
            notes.append(f"form {fname}: no submit action found after '- active_loop: null'")
        forms[fname] = form

    # intents
    intents: dict[str, dict[str, Any]] = {}
    for iname in intent_names:
        if "/" in iname or iname in RASA_INTERNAL_INTENTS:
            continue
        if iname in retrieval_bases and not examples.get(iname):
            continue
        if not examples.get(iname):
            notes.append(f"intent {iname}: skipped (no NLU examples)")
            continue
        utter = conv["intent_responses"].get(iname)
        triggers = any(f.get("intent") == iname for f in forms.values())
        if (not triggers and not utter and iname not in conv["intent_actions"]
                and annotated.get(iname, 0) * 2 >= len(examples[iname])):
            notes.append(f"intent {iname}: only fills slots in Rasa (entity examples, no rule of its own); "
                         "not imported: callflows fills slots from any answer")
            continue
        body: dict[str, Any] = {"examples": examples[iname]}
        if utter and utter in rasa_responses and not any(f.get("intent") == iname for f in forms.values()):
            body["response"] = utter[len("utter_"):] if utter.startswith("utter_") else utter
        intents[iname] = body
        action = conv["intent_actions"].get(iname)
        if action and not triggers:
            notes.append(f"intent {iname}: runs custom action {action} in the rules/stories; "
                         "call it from a form or an action")
        elif not triggers and "response" not in body and iname not in BUILTIN_INTENTS:
            notes.append(f"intent {iname}: no form and no response of its own; give it a response:")

    responses: dict[str, list[str]] = {}
    for rname, variants in rasa_responses.items():
        rname = str(rname)
        if rname in prompt_responses or "/" in rname:
            continue
        texts, _ = response_texts(variants)
        if not texts:
            notes.append(f"response {rname}: skipped (no text variant)")
            continue
        responses[rname[len("utter_"):] if rname.startswith("utter_") else rname] = texts
    for body in intents.values():  # a response with no text was skipped: drop the link
        if body.get("response") and body["response"] not in responses:
            del body["response"]

    # enum values such as oil_change are spoken with spaces
    spaced = [s for s, spec in slots.items()
              if spec["type"] == "enum" and any("_" in c for c in spec.get("choices", {}))]
    if spaced:
        pattern = re.compile(r"\{\{ (" + "|".join(map(re.escape, spaced)) + r") \}\}")

        def speak(text: str) -> str:
            return pattern.sub(lambda m: "{{ " + m.group(1) + " | replace('_', ' ') }}", text)

        for rname in responses:
            responses[rname] = [speak(t) for t in responses[rname]]
        for form in forms.values():
            for step in form["steps"]:
                step["prompt"] = speak(step["prompt"])
                if "reprompts" in step:
                    step["reprompts"] = [speak(r) for r in step["reprompts"]]

    # template variables that are not slots become 'any' slots
    templates = [t for ts in responses.values() for t in ts]
    templates += [s["prompt"] for f in forms.values() for s in f["steps"]]
    templates += [r for f in forms.values() for s in f["steps"] for r in s.get("reprompts", [])]
    templates += [e["answer"] for e in faq_entries]
    enum_labels = {f"{s}_label" for s, spec in slots.items() if spec["type"] == "enum"}
    for template in templates:
        try:
            names = template_variables(template)
        except TemplateError:
            continue
        for var in sorted(names - set(slots) - BUILTIN_VARIABLES - enum_labels):
            slots[var] = {"type": "any", "description": "used in a response; set it from an action"}

    flow: dict[str, Any] = {
        "vertical": name,
        "display_name": " ".join(w.capitalize() for w in name.split("_")),
        "timezone": "UTC",
    }
    if faq_entries:
        flow["knowledge"] = KNOWLEDGE_FILE
    if custom_actions:
        flow["actions"] = "actions.py"
    flow["slots"] = slots
    flow["intents"] = intents
    if forms:
        flow["forms"] = forms
    if responses:
        flow["responses"] = responses

    header = [
        f"Imported from the Rasa project {project_dir.name}/ by `callflows import-rasa`.",
        "Review it: slot types are guessed from the slot names; set timezone (and transfer_number).",
    ]
    if custom_actions:
        header.append("Custom actions of the Rasa domain: " + ", ".join(custom_actions) + ".")
        header.append("copy your actions.py next to this file; it runs unchanged in process,")
        header.append("or set action_server: to your existing server URL (e.g. http://localhost:5055/webhook).")
    if notes:
        header.append("Not imported / to check:")
        header += [f"  - {n}" for n in notes]
    knowledge = {"faq": faq_entries} if faq_entries else None
    return flow, knowledge, header


def _dump(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)


def import_rasa_project(project_dir: Path, out_dir: Path, name: str | None = None,
                        overwrite: bool = False) -> Path:
    """Write out_dir/<name>/flow.yaml (+ knowledge.yaml) from a Rasa 3.x project; returns the flow path.

    Raises RasaImportError on a missing or invalid domain, an existing vertical (unless
    overwrite), or a result that does not validate.
    """
    project_dir = Path(project_dir)
    if not project_dir.is_dir():
        raise RasaImportError(f"{project_dir}: not a folder (expected a Rasa project with domain.yml)")
    name = slugify(name or project_dir.resolve().name)
    flow, knowledge, header = build_vertical(project_dir, name)

    target = Path(out_dir) / name
    flow_path = target / FLOW_FILE
    if flow_path.exists() and not overwrite:
        raise RasaImportError(f"{flow_path} already exists; choose another --name or remove it")
    target.mkdir(parents=True, exist_ok=True)
    comment = "".join(f"# {line}\n" if line else "#\n" for line in header)
    flow_path.write_text(comment + _dump(flow), encoding="utf-8")
    if knowledge is not None:
        (target / KNOWLEDGE_FILE).write_text(
            f"# Questions and answers imported from the Rasa retrieval intents of {project_dir.name}/.\n"
            + _dump(knowledge), encoding="utf-8")
    try:
        load_flow(flow_path)
    except FlowErrors as exc:
        raise RasaImportError(f"the imported flow does not validate:\n{exc}") from None
    return flow_path
