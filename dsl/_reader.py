"""Typed reading of untrusted JSON values that records problems instead of raising."""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from typing import Any, Final, TypeAlias

from dsl.errors import Problem
from dsl.options import LIMITS

ID_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
"""Step ids and Suna agent ids: letters, digits, `_` and `-`, no dots (fields split on dots)."""
KEY_NAME_PATTERN: Final = re.compile(r"[a-z0-9_-]{1,64}")
"""Service names in `requires_keys`."""


At: TypeAlias = "str | tuple[At, str | int]"
"""Where a value sits in the input: a JSON pointer, or (parent, key) built lazily, so
that the happy path never formats a pointer."""


def render(at: At) -> str:
    """The JSON pointer (RFC 6901) of a location."""
    keys: list[str | int] = []
    while isinstance(at, tuple):
        at, key = at
        keys.append(key)
    parts = [at]
    for key in reversed(keys):
        text = str(key)
        parts.append("/" + text.replace("~", "~0").replace("/", "~1"))
    return "".join(parts)


def type_name(value: object) -> str:
    """The JSON name of a Python value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def is_number(value: object) -> bool:
    """True for a finite JSON number (booleans are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return not isinstance(value, float) or math.isfinite(value)


class Reader:
    """Collects problems while reading; every reader returns `None` on a problem."""

    __slots__ = ("problems",)

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, code: str, path: At, message: str) -> None:
        """Record one problem (up to the limit, then one `too_many_problems`)."""
        count = len(self.problems)
        if count < LIMITS.max_problems:
            self.problems.append(Problem(code, render(path), message))
        elif count == LIMITS.max_problems:
            self.problems.append(Problem("too_many_problems", "", "further problems left out"))

    def obj(self, value: object, path: At) -> Mapping[Any, Any] | None:
        """The value if it is a JSON object."""
        if isinstance(value, Mapping):
            return value
        self.add("wrong_type", path, f"expected an object, got {type_name(value)}")
        return None

    def fields(
        self, obj: Mapping[Any, Any], path: At, allowed: Collection[str], required: tuple[str, ...]
    ) -> None:
        """Report keys that are not allowed and required keys that are missing."""
        for key in obj:
            if key not in allowed:
                name = key if isinstance(key, str) else repr(key)
                self.add("unknown_field", (path, name), f"unknown field {name[:80]!r}")
        for key in required:
            if key not in obj:
                self.add("missing_field", (path, key), f"missing required field {key!r}")

    def string(
        self, value: object, path: At, max_chars: int, pattern: re.Pattern[str] | None = None
    ) -> str | None:
        """A non-empty string of at most `max_chars`, matching `pattern` in full if given."""
        if not isinstance(value, str):
            self.add("wrong_type", path, f"expected a string, got {type_name(value)}")
            return None
        if len(value) > max_chars:
            self.add("too_long", path, f"longer than {max_chars} characters")
            return None
        if not value or value.isspace():
            self.add("invalid_value", path, "must not be empty")
            return None
        if pattern is not None and pattern.fullmatch(value) is None:
            self.add("invalid_format", path, f"{value!r} does not match {pattern.pattern}")
            return None
        return value

    def number(
        self, value: object, path: At, low: float, high: float, *, integer: bool = False
    ) -> float | None:
        """A finite number within [low, high] (an integer if `integer`)."""
        if integer and not (isinstance(value, int) and not isinstance(value, bool)):
            self.add("wrong_type", path, f"expected an integer, got {type_name(value)}")
            return None
        if not is_number(value):
            self.add("wrong_type", path, f"expected a finite number, got {type_name(value)}")
            return None
        assert isinstance(value, int | float)
        if not low <= value <= high:
            self.add("out_of_range", path, f"must be between {low:g} and {high:g}")
            return None
        return value

    def array(self, value: object, path: At, max_items: int) -> list[Any] | None:
        """A JSON array of at most `max_items` items."""
        if not isinstance(value, list | tuple):
            self.add("wrong_type", path, f"expected an array, got {type_name(value)}")
            return None
        if len(value) > max_items:
            self.add("too_many_items", path, f"more than {max_items} items")
            return None
        return list(value)

    def choice(self, value: object, path: At, allowed: tuple[str, ...], code: str) -> str | None:
        """One of the `allowed` strings; anything else is reported under `code`."""
        if isinstance(value, str) and value in allowed:
            return value
        shown = repr(value) if isinstance(value, str) else type_name(value)
        self.add(code, path, f"{shown[:80]} is not one of {', '.join(allowed)}")
        return None
