"""Rasa's slots and responses as a flow's (for the importer, callflows/flow/rasa_import.py): a
slot's type (categorical -> enum with the NLU synonyms, bool -> yes/no, text and float guessed from
the name), and a response's text with Rasa's ``{slot}`` turned into Jinja's ``{{ slot }}``."""

from __future__ import annotations

import keyword
import re
from typing import Any

from jinja2.exceptions import TemplateError

from callflows.flow.templates import template_variables

_RASA_VARIABLE = re.compile(r"\{([^\n{}]+?)\}")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_JINJA_WORDS = {"and", "or", "not", "in", "is", "if", "else", "true", "false", "none",
                "True", "False", "None", "for", "recursive"}


# --------------------------------------------------------------------------------------------
# slots


def name_words(name: str) -> list[str]:
    return [w for w in re.split(r"[^a-z0-9]+", name.lower()) if w]


MONEY_WORDS = {"amount", "price", "money", "cost", "fee", "payment", "balance", "total", "budget"}
DIGITS_WORDS = {"zip", "zipcode", "postcode", "ssn", "pin", "last4", "account", "acct"}
NOT_PERSON = {"company", "business", "product", "street", "city", "store", "pet", "user", "file",
              "account", "restaurant", "hotel", "item", "brand", "bank"}


def guess_text_type(name: str) -> dict[str, Any]:
    """Slot spec fields for a Rasa text slot, guessed from its name (or an entity's name)."""
    words = name_words(name)
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
        if set(name_words(name)) & MONEY_WORDS:
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


def speakable_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]
