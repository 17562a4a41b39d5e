"""Reading a Rasa 3.x project for the importer (callflows/flow/rasa_import.py): its domain (one
domain.yml or a domain/ folder of parts, merged), its NLU data, rules and stories, and the NLU
examples with entity annotations reduced to their text (``[Tuesday](date)`` -> ``Tuesday``)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

_ANNOTATION = re.compile(r"\[([^\]]+)\](\(([^)]*)\)|(\{[^}]*\}))")


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
