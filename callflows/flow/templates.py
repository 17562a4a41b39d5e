"""Response templates: sandboxed Jinja2 with slot values, checked at load time."""

from __future__ import annotations

from datetime import date, datetime, time
from functools import lru_cache
from typing import Any, Iterable

from jinja2 import StrictUndefined, meta, nodes
from jinja2.exceptions import TemplateError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

# Variables every template may use besides the flow's slots and variables.
BUILTIN_VARIABLES = frozenset({"display_name", "vertical", "transfer_number"})


def _spoken_date(value: Any, with_weekday: bool, with_year: bool) -> str:
    if not value:
        return ""
    try:
        d = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    except ValueError:
        return str(value)
    spoken = f"{d.strftime('%B')} {d.day}"
    return (f"{d.strftime('%A')}, " if with_weekday else "") + spoken + (f", {d.year}" if with_year else "")


def speak_date(value: Any) -> str:
    """'2026-12-01' -> 'Tuesday, December 1'."""
    return _spoken_date(value, with_weekday=True, with_year=False)


def speak_date_year(value: Any) -> str:
    """'1985-03-05' -> 'March 5, 1985': a date read back with its year and without a weekday
    (a date of birth: the caller checks the year, and its weekday means nothing to them)."""
    return _spoken_date(value, with_weekday=False, with_year=True)


def speak_time(value: Any) -> str:
    """'15:30' -> '3:30 PM', '09:00' -> '9 AM'."""
    if not value:
        return ""
    try:
        t = value if isinstance(value, time) else time.fromisoformat(str(value)[-5:])
    except ValueError:
        return str(value)
    hour = t.hour % 12 or 12
    suffix = "AM" if t.hour < 12 else "PM"
    if t.hour == 12 and t.minute == 0:
        return "noon"
    return f"{hour}:{t.minute:02d} {suffix}" if t.minute else f"{hour} {suffix}"


def speak_datetime(value: Any) -> str:
    if not value:
        return ""
    try:
        dt = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return f"{speak_date(dt.date())} at {speak_time(dt.time())}"


def speak_money(value: Any) -> str:
    try:
        return f"${float(value):,.2f}".replace(".00", "")
    except (TypeError, ValueError):
        return str(value)


def speak_phone(value: Any) -> str:
    """'+15551234567' -> '5 5 5, 1 2 3, 4 5 6 7' (read digit by digit, in groups)."""
    digits = "".join(ch for ch in str(value or "") if ch.isdigit())
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) != 10:
        return " ".join(digits)
    return ", ".join(" ".join(part) for part in (digits[:3], digits[3:6], digits[6:]))


def with_article(value: Any) -> str:
    """'extraction' -> 'an extraction', 'cleaning' -> 'a cleaning' ("a extraction" is what a
    caller's ear, and a listener's recogniser, loses: the summary came back "So that's extraction")."""
    text = str(value or "").strip()
    if not text:
        return text
    return f"{'an' if text[0].lower() in 'aeiou' else 'a'} {text}"


@lru_cache(maxsize=1)
def environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    env.filters.update(
        speak_date=speak_date,
        speak_date_year=speak_date_year,
        speak_time=speak_time,
        speak_datetime=speak_datetime,
        speak_money=speak_money,
        speak_phone=speak_phone,
        with_article=with_article,
    )
    return env


#: What a response template may contain: values, known filters, comparisons, `a if c else b`,
#: `~` joins and {% if %}. Attribute access, calls, loops, arithmetic that can blow up
#: ('x' * 10**9) and Jinja's globals (self, cycler, range, ...) are refused at load time, so
#: a flow that tries them never reaches a call (the sandbox would refuse them at render time).
_ALLOWED_NODES = (nodes.Template, nodes.Output, nodes.TemplateData, nodes.Name, nodes.Const, nodes.Filter,
                  nodes.CondExpr, nodes.Compare, nodes.Operand, nodes.And, nodes.Or, nodes.Not, nodes.Concat,
                  nodes.If, nodes.Tuple, nodes.List)
_ALLOWED_FILTERS = frozenset({"speak_date", "speak_date_year", "speak_time", "speak_datetime", "speak_money", "speak_phone",
                              "with_article", "upper", "lower",
                              "title", "capitalize", "default", "trim", "round", "int", "string", "replace", "join",
                              "length", "first", "last"})
_FORBIDDEN_NAMES = frozenset({"self", "cycler", "joiner", "namespace", "lipsum", "range", "dict", "loop",
                              "caller", "varargs", "kwargs", "config", "request", "g", "session"})


def template_variables(source: str) -> set[str]:
    """Names a template reads; raises TemplateError on a syntax error or a construct that is not allowed."""
    env = environment()
    ast = env.parse(source)
    for node in ast.find_all(nodes.Node):
        if not isinstance(node, _ALLOWED_NODES):
            raise TemplateError(f"not allowed in a template: {type(node).__name__.lower()} "
                                "(use slot values, filters, comparisons and 'a if condition else b')")
        if isinstance(node, nodes.Name) and (node.name in _FORBIDDEN_NAMES or node.name.startswith("_")):
            raise TemplateError(f"not allowed in a template: the name '{node.name}'")
    names = set(meta.find_undeclared_variables(ast))
    # unknown filters are also errors worth catching at load time
    for node in ast.find_all(nodes.Filter):
        if node.name not in env.filters:
            raise TemplateError(f"unknown filter '{node.name}'")
        if node.name not in _ALLOWED_FILTERS:
            raise TemplateError(f"not allowed in a template: the filter '{node.name}'")
    return names


def render(source: str, context: dict[str, Any]) -> str:
    """Render a template; a missing or ill-shaped value renders empty, never a crash."""
    env = environment()
    safe = {k: ("" if v is None else v) for k, v in context.items()}
    try:
        text = env.from_string(source).render(safe)
    except (UndefinedError, TemplateError, TypeError, ValueError):  # SecurityError is a TemplateError
        # validated at load time; at call time a value of the wrong shape must not end the call
        try:
            blank = {name: "" for name in template_variables(source)}
            text = env.from_string(source).render(blank | {k: v for k, v in safe.items() if isinstance(v, str)})
        except (UndefinedError, TemplateError, TypeError, ValueError):
            return ""  # a template that never validated (it cannot reach a call through the loader)
    return " ".join(text.split())


def unknown_variables(source: str, known: Iterable[str]) -> set[str]:
    return template_variables(source) - set(known) - BUILTIN_VARIABLES
