"""A name typed on the keypad and kept as its keys, for a vertical to match against names on file.

Where a name only has to be compared with the names a business already holds (identity
verification: flow.yaml `keys: match_on_file` on a person_name slot), decoding the keys into a
spelling (callflows.nlu.keyed_names) is needless and can only go wrong: the keys themselves are
compared with the keys of each name on file. The slot then holds a string that says it was
typed, ``"keys:35547"`` (Ellis), so it survives the trackers, the store and the actions like any
slot value, and no name parser or matcher mistakes it for a spelling.

This module is the one place that knows that form: the session makes the value with
:func:`typed_name`, a vertical reads it with :func:`typed_keys`.
"""

from __future__ import annotations

from callflows.nlu.keyed_names import MAX_KEYS, MIN_KEYS, name_keys

_PREFIX = "keys:"


def typed_name(entry: str) -> str | None:
    """The slot value of a keypad entry typed for a name: its letter keys (2-9; 0, 1, * and #
    dropped) marked as typed. None when they are too few or too many to be a name (one key, a
    stuck key), so the question is asked again."""
    keys = name_keys(entry)
    if not MIN_KEYS <= len(keys) <= MAX_KEYS:
        return None
    return _PREFIX + keys


def typed_keys(value: object) -> str | None:
    """The letter keys of a value :func:`typed_name` made; None for anything else (a name heard)."""
    if not isinstance(value, str) or not value.startswith(_PREFIX):
        return None
    keys = value[len(_PREFIX):]
    return keys if keys and name_keys(keys) == keys else None
