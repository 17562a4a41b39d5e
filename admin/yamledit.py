"""Edit one scalar of a YAML document in place, keeping comments and layout.

The form editor addresses a text by its path in the document (``["responses", "greet", 0]``)
and replaces only the characters of that scalar: everything else in the file, comments
included, stays byte for byte the same. The new value is written as a plain scalar when
that reads back as the same string, else double-quoted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import yaml

from callflows.flow.safe_yaml import compose_yaml, safe_load_yaml

Path = tuple[str | int, ...]


class PathError(KeyError):
    """The path does not lead to a scalar in this document."""


def _compose(text: str) -> yaml.Node | None:
    return compose_yaml(text)  # the flow loader's size and nesting limits: yaml.YAMLError past them


def find_node(root: yaml.Node | None, path: Path) -> yaml.Node:
    node = root
    for part in path:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    node = value
                    break
            else:
                raise PathError(f"no key {part!r} at {path}")
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if not 0 <= part < len(node.value):
                raise PathError(f"no item {part} at {path}")
            node = node.value[part]
        else:
            raise PathError(f"cannot follow {part!r} at {path}")
    if node is None:
        raise PathError(f"empty document at {path}")
    return node


def get_scalar(text: str, path: Path) -> str:
    node = find_node(_compose(text), path)
    if not isinstance(node, yaml.ScalarNode):
        raise PathError(f"{path} is not a single text")
    return str(node.value)


def _plain_ok(value: str) -> bool:
    if not value or value != value.strip() or "\n" in value:
        return False
    try:
        return safe_load_yaml(f"k: {value}\n") == {"k": value} and safe_load_yaml(f"- {value}\n") == [value]
    except yaml.YAMLError:
        return False


def render_scalar(value: str) -> str:
    """A YAML scalar for ``value`` on one line: plain when safe, else double-quoted."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    if _plain_ok(value):
        return value
    return json.dumps(value, ensure_ascii=False)  # JSON strings are YAML double-quoted scalars


def set_scalar(text: str, path: Path, value: str) -> str:
    """``text`` with the scalar at ``path`` replaced by ``value`` (raises PathError)."""
    node = find_node(_compose(text), path)
    if not isinstance(node, yaml.ScalarNode):
        raise PathError(f"{path} is not a single text")
    start, end = node.start_mark.index, node.end_mark.index
    new_text = text[:start] + render_scalar(value) + text[end:]
    if get_scalar(new_text, path) != value.replace("\r\n", "\n").replace("\r", "\n"):
        raise PathError(f"{path} could not be replaced safely")
    return new_text


@dataclass
class Editable:
    """One text an editor can change through a form."""

    section: str  # "Responses", "Form: book_appointment", "FAQ", "Vertical"
    label: str  # "greet", "step 1: appointment_type prompt", ...
    path: Path
    field: str  # the loader's field name (FlowError.field) for this text
    value: str
    line: int  # 1-based line in the document
    errors: list[str] = field(default_factory=list)

    @property
    def path_json(self) -> str:
        return json.dumps(list(self.path))

    @property
    def anchor(self) -> str:
        return "f-" + "-".join(str(p) for p in self.path).replace(".", "_").replace(" ", "_")


def _scalar(node: Any) -> bool:
    return isinstance(node, yaml.ScalarNode)


def _get(node: Any, key: str) -> Any:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if _scalar(k) and k.value == key:
                return v
    return None


def _items(node: Any) -> list[tuple[str, Any]]:
    if isinstance(node, yaml.MappingNode):
        return [(str(k.value), v) for k, v in node.value if _scalar(k)]
    return []


def _texts(section: str, label: str, node: Any, path: Path, field: str, out: list[Editable]) -> None:
    """A text or a list of texts (responses, reprompts) as editables."""
    if _scalar(node):
        out.append(Editable(section, label, path, field, str(node.value), node.start_mark.line + 1))
    elif isinstance(node, yaml.SequenceNode):
        many = len(node.value) > 1
        for i, item in enumerate(node.value):
            if _scalar(item):
                out.append(Editable(section, f"{label} ({i + 1})" if many else label, (*path, i), f"{field}[{i}]",
                                    str(item.value), item.start_mark.line + 1))


def flow_editables(text: str) -> list[Editable]:
    """The texts of a flow a supervisor changes through forms: vertical settings,
    responses, form prompts, re-prompts and confirmations."""
    try:
        root = _compose(text)
    except yaml.YAMLError:
        return []
    out: list[Editable] = []
    for key, label in (("display_name", "Display name"), ("transfer_number", "Transfer number")):
        node = _get(root, key)
        if _scalar(node):
            out.append(Editable("Vertical", label, (key,), key, str(node.value), node.start_mark.line + 1))
    for name, node in _items(_get(root, "responses")):
        _texts("Responses", name, node, ("responses", name), f"responses.{name}", out)
    for form_name, form in _items(_get(root, "forms")):
        section = f"Form: {form_name}"
        steps = _get(form, "steps")
        if isinstance(steps, yaml.SequenceNode):
            for i, step in enumerate(steps.value):
                slot = _get(step, "slot")
                one_of = _get(step, "one_of")
                if _scalar(slot):
                    what = str(slot.value)
                elif isinstance(one_of, yaml.SequenceNode):
                    what = " / ".join(str(n.value) for n in one_of.value if _scalar(n))
                else:
                    what = "?"
                base = ("forms", form_name, "steps", i)
                fbase = f"forms.{form_name}.steps[{i}]"
                prompt = _get(step, "prompt")
                if _scalar(prompt):
                    out.append(Editable(section, f"step {i + 1} ({what}): prompt", (*base, "prompt"),
                                        f"{fbase}.prompt", str(prompt.value), prompt.start_mark.line + 1))
                re_node = _get(step, "reprompts")
                if re_node is not None:
                    _texts(section, f"step {i + 1} ({what}): re-prompt", re_node, (*base, "reprompts"),
                           f"{fbase}.reprompts", out)
        confirm = _get(form, "confirm")
        for key, label in (("prompt", "confirmation"), ("on_deny", "when the caller says no")):
            node = _get(confirm, key)
            if _scalar(node):
                out.append(Editable(section, label, ("forms", form_name, "confirm", key),
                                    f"forms.{form_name}.confirm.{key}", str(node.value), node.start_mark.line + 1))
    return out


def knowledge_editables(text: str) -> list[Editable]:
    """The FAQ answers of a knowledge file."""
    try:
        root = _compose(text)
    except yaml.YAMLError:
        return []
    out: list[Editable] = []
    faq = _get(root, "faq")
    if isinstance(faq, yaml.SequenceNode):
        for i, entry in enumerate(faq.value):
            eid = _get(entry, "id")
            answer = _get(entry, "answer")
            questions = _get(entry, "questions")
            if _scalar(answer):
                label = str(eid.value) if _scalar(eid) else f"entry {i + 1}"
                if isinstance(questions, yaml.SequenceNode) and questions.value and _scalar(questions.value[0]):
                    label += f": \u201c{questions.value[0].value}\u201d"
                out.append(Editable("FAQ", label, ("faq", i, "answer"), f"faq[{i}].answer", str(answer.value),
                                    answer.start_mark.line + 1))
    return out


__all__ = ["Editable", "PathError", "flow_editables", "get_scalar", "knowledge_editables", "render_scalar",
           "set_scalar"]
