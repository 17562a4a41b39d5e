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

The result is validated with :func:`callflows.flow.loader.load_flow`. Reading the project is
rasa_project.py's job, converting slots and responses rasa_convert.py's.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from jinja2.exceptions import TemplateError

from callflows.flow.errors import FlowErrors
from callflows.flow.loader import load_flow
from callflows.flow.rasa_convert import convert_slot, guess_text_type, name_words, response_texts, speakable_list
from callflows.flow.rasa_project import RasaImportError, collect_nlu, read_domain, read_training_data
from callflows.flow.templates import BUILTIN_VARIABLES, template_variables
from callflows.nlu.builtin_intents import BUILTIN_INTENTS

FLOW_FILE = "flow.yaml"
KNOWLEDGE_FILE = "knowledge.yaml"

# Rasa's own slots and intents that have no meaning in a flow.
RASA_INTERNAL_SLOTS = {"requested_slot", "session_started_metadata"}
RASA_INTERNAL_INTENTS = {"nlu_fallback", "session_start", "restart", "back", "out_of_scope_fallback"}



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
                texts = [f"Please tell me your {' '.join(name_words(slot)) or slot}."]
            step: dict[str, Any] = {"slot": slot, "prompt": texts[0]}
            reprompts = texts[1:]
            if buttons:
                reprompts.append(f"You can say {speakable_list(buttons)}.")
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
