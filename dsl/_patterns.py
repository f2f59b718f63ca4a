"""Bounded regular expressions for `matches`: checked before use, searched under a timeout.

The one place that touches the `regex` module (mrab regex, which supports a
matching timeout). A pattern is refused when it is too long, when its counted
repetitions multiply beyond a bound (their compile cost grows with the
product), or when it does not compile. A search runs under a timeout and
releases the GIL while it matches (`concurrent=True`), so a thread searching
leaves the event loop's thread free to run.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Final

import regex  # type: ignore[import-untyped, unused-ignore]

from dsl.options import LIMITS

__all__ = ["pattern_problem", "search"]

_REPEAT: Final = re.compile(r"\{(\d*)(?:,(\d*))?\}")


def pattern_problem(pattern: str) -> tuple[str, str] | None:
    """Why a pattern is refused, as (code, message), or `None` when it may be used."""
    if len(pattern) > LIMITS.max_regex_chars:
        return "too_long", f"pattern longer than {LIMITS.max_regex_chars} characters"
    product = 1
    for match in _REPEAT.finditer(pattern):
        product *= max([1, *(int(group) for group in match.groups() if group)])
        if product > LIMITS.max_regex_repeat:
            return "regex_too_complex", f"counted repetitions exceed {LIMITS.max_regex_repeat}"
    try:
        _compiled(pattern)
    except Exception as error:  # the regex module raises several types for bad patterns
        return "invalid_regex", f"pattern does not compile: {str(error)[:200]}"
    return None


def search(pattern: str, subject: str, timeout_s: float) -> bool:
    """Whether `pattern` (one `pattern_problem` accepts) occurs in `subject`.

    Raises `TimeoutError` when the search takes longer than `timeout_s`.
    """
    found = _compiled(pattern).search(subject, timeout=timeout_s, concurrent=True)
    return found is not None


@lru_cache(maxsize=512)
def _compiled(pattern: str) -> Any:
    return regex.compile(pattern)
