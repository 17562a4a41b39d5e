"""The flow loader's error collector: walks a YAML tree read with line numbers (LineDict,
LineList) and records every problem as a FlowError naming the file, the line and the field, so
that all of a file's errors are reported at once (escalation.yaml's loader uses it too)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from callflows.flow.errors import FlowError
from callflows.flow.yaml_lines import LineDict, LineList


class Checker:
    """Collects errors while walking the YAML tree."""

    def __init__(self, file: str):
        self.file = file
        self.errors: list[FlowError] = []
        self.templates: list[tuple[str, str, int, str]] = []  # (file, field, line, source)

    def error(self, node: Any, key: str | int | None, field: str, message: str) -> None:
        line = None
        if isinstance(node, LineDict) and key is not None:
            line = node.line_of(str(key))
        elif isinstance(node, LineList) and isinstance(key, int):
            line = node.line_of(key)
        elif isinstance(node, (LineDict, LineList)):
            line = node.line
        self.errors.append(FlowError(self.file, line, field, message))

    def mapping(self, parent: Any, key: str, field: str, required: bool = False) -> LineDict:
        value = parent.get(key) if isinstance(parent, dict) else None
        if value is None:
            if required:
                self.error(parent, None, field, "is required")
            empty = LineDict()
            empty.line = getattr(parent, "line", 0)
            empty.key_lines = {}
            return empty
        if not isinstance(value, dict):
            self.error(parent, key, field, "must be a mapping")
            return self.mapping({}, key, field)
        return value

    def string(self, parent: LineDict, key: str, field: str, required: bool = False,
               template: bool = False) -> str | None:
        value = parent.get(key)
        if value is None:
            if required:
                self.error(parent, None, field, "is required")
            return None
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            self.error(parent, key, field, "must be a string")
            return None
        value = str(value)
        if template:
            self.templates.append((self.file, field, parent.line_of(key), value))
        return value

    def strings(self, parent: LineDict, key: str, field: str, template: bool = False) -> tuple[str, ...]:
        value = parent.get(key)
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
            self.error(parent, key, field, "must be a list of strings")
            return ()
        if template:
            for i, v in enumerate(value):
                line = value.line_of(i) if isinstance(value, LineList) else parent.line_of(key)
                self.templates.append((self.file, f"{field}[{i}]", line, str(v)))
        return tuple(str(v) for v in value)

    def unknown_keys(self, node: LineDict, allowed: set[str], field: str) -> None:
        for key in node:
            if str(key) not in allowed:
                self.error(node, key, f"{field}.{key}" if field else str(key),
                           f"unknown field (allowed: {', '.join(sorted(allowed))})")

    def entries(self, node: LineDict, section: str, allowed: set[str], short: tuple[type, str],
                shape: str) -> Iterator[tuple[str, str, LineDict]]:
        """(name, field, body) of each entry of a section (``slots``, ``intents``), its unknown keys
        reported. ``short``: an entry of that type is shorthand for ``{key: value}``; an entry that
        is neither is reported as ``shape`` ("must be a mapping with a type") and skipped."""
        short_type, short_key = short
        for name, body in node.items():
            field = f"{section}.{name}"
            if isinstance(body, short_type):
                body = node.shorthand(name, short_key)
            if not isinstance(body, LineDict):
                self.error(node, name, field, shape)
                continue
            self.unknown_keys(body, allowed, field)
            yield str(name), field, body
