"""YAML from untrusted editors, parsed within limits: at most MAX_FLOW_BYTES of text and
MAX_NESTING levels of nesting (aliases included), refused while it is composed, before the YAML
library's recursion can overflow the stack; any other exception of the library (a date like
``2026-13-45``, a 5,000-digit number) becomes a yaml.YAMLError. The flow loader, the admin's
editor and the phone-number mapping read YAML only through here.
"""

from __future__ import annotations

from typing import Any

import yaml

from callflows.flow.errors import FlowError
from callflows.flow.yaml_lines import _LineLoader

MAX_FLOW_BYTES = 1_000_000  # a flow (or knowledge) text larger than this is refused unparsed
MAX_NESTING = 64  # levels of mappings and lists; the shipped flows use 6


class YAMLLimitError(yaml.YAMLError):
    """Text too large or nested too deep to be parsed; ``line`` and ``field`` say where."""

    def __init__(self, problem: str, line: int | None = None, field: str = "yaml"):
        super().__init__(problem)
        self.problem = problem
        self.line = line
        self.field = field


def _checked(text: str) -> str:
    """``text``, unless it is larger than MAX_FLOW_BYTES (then YAMLLimitError naming the line
    the limit falls on); checked before any parsing."""
    if len(text) <= MAX_FLOW_BYTES // 4:
        return text
    data = text.encode("utf-8", "replace")
    if len(data) <= MAX_FLOW_BYTES:
        return text
    raise YAMLLimitError(f"is too large: {len(data):,} bytes (at most {MAX_FLOW_BYTES:,})",
                         data[:MAX_FLOW_BYTES].count(b"\n") + 1, "file")


class _Limited:
    """Loader mix-in: refuses nesting deeper than MAX_NESTING while composing (so the recursive
    composer and constructor never get near Python's recursion limit), counting what an alias
    brings in too, and turns any other error of a constructor into a ConstructorError."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)  # type: ignore[call-arg]
        self._path: list[str] = []  # where the composer is: keys and [indexes]
        self._height: dict[yaml.Node, int] = {}  # levels below each composed node, aliases included

    def _field(self) -> str:
        out = ""
        for part in self._path[:9]:
            if part:
                out += part if part.startswith("[") or not out else "." + part
        return (out + ("..." if len(self._path) > 9 else "")) or "yaml"

    def compose_node(self, parent: Any, index: Any) -> Any:
        line = self.peek_event().start_mark.line + 1  # type: ignore[attr-defined]
        if isinstance(index, yaml.ScalarNode):  # a mapping's value
            self._path.append(str(index.value)[:64])
        elif isinstance(index, int):  # a list's item
            self._path.append(f"[{index}]")
        else:  # the document, or a mapping's key
            self._path.append("" if parent is None else "?")
        try:
            depth = len(self._path)
            if depth > MAX_NESTING:
                raise YAMLLimitError(f"nested more than {MAX_NESTING} levels deep", line, self._field())
            node = super().compose_node(parent, index)  # type: ignore[misc]
            height = self._height.get(node)
            if height is None:  # a new node (an alias returns the node it names, measured already)
                children = (node.value if isinstance(node, yaml.SequenceNode)
                            else [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode)
                            else [])
                height = 1 + max((self._height.get(child, 1) for child in children), default=0)
                self._height[node] = height
            if depth - 1 + height > MAX_NESTING:
                raise YAMLLimitError(f"nested more than {MAX_NESTING} levels deep (through an alias)", line,
                                     self._field())
            return node
        finally:
            self._path.pop()

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)  # type: ignore[misc]
        except yaml.YAMLError:
            raise
        except Exception as exc:  # noqa: BLE001 - e.g. a date 2026-13-45, a 5,000-digit int
            raise yaml.constructor.ConstructorError(
                None, None, f"bad value: {str(exc)[:200]}", node.start_mark) from None


class _SafeLineLoader(_Limited, _LineLoader):
    pass


class _SafeLoader(_Limited, yaml.SafeLoader):
    pass


def _run(loader: Any, method: str) -> Any:
    try:
        return getattr(loader, method)()
    except yaml.YAMLError:
        raise
    except RecursionError:  # not expected within MAX_NESTING; never let it out all the same
        raise YAMLLimitError("nested too deeply", loader.line + 1) from None
    except Exception as exc:  # noqa: BLE001 - the YAML library's own bugs on odd text
        raise YAMLLimitError(f"cannot be read: {type(exc).__name__}") from None
    finally:
        loader.dispose()


def load_yaml_limited(text: str) -> Any:
    """Parse YAML text with line numbers (LineDict, LineList), within the size and depth limits.
    Raises yaml.YAMLError (YAMLLimitError past a limit); nothing else."""
    return _run(_SafeLineLoader(_checked(text)), "get_single_data")


def safe_load_yaml(text: str) -> Any:
    """``yaml.safe_load`` within the size and depth limits; raises yaml.YAMLError only."""
    return _run(_SafeLoader(_checked(text)), "get_single_data")


def compose_yaml(text: str) -> yaml.Node | None:
    """``yaml.compose`` (nodes with their marks) within the limits; raises yaml.YAMLError only."""
    return _run(_SafeLoader(_checked(text)), "get_single_node")


def yaml_error(file: str, exc: yaml.YAMLError) -> FlowError:
    if isinstance(exc, YAMLLimitError):
        message = exc.problem + ("; a flow needs only a few levels" if "nested" in exc.problem else "")
        return FlowError(file, exc.line, exc.field, message)
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return FlowError(file, mark.line + 1 if mark else None, "yaml", f"syntax error: {problem}")
