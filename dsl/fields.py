"""The grammar of condition fields and template placeholders.

A field names a value in the shared context:

- `initial_prompt` — the execution's initial prompt;
- `results.<step>[.<key>...]` — a step's result, or a value inside its JSON;
- `agent_<ref>_result[.<key>...]` — the seed's spelling of the same, where
  `<ref>` is a step id or an agent id (which may itself hold `_` and `-`).

Keys are split on dots; a numeric key indexes an array. Template
placeholders are fields written `{{ field }}`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

from dsl._reader import ID_PATTERN
from dsl.options import LIMITS

__all__ = ["PLACEHOLDER", "FieldRef", "parse_field"]

_SEGMENT: Final = re.compile(r"[^\s.{}]{1,128}")
_AGENT_HEAD: Final = re.compile(r"agent_(.+)_result")
PLACEHOLDER: Final = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
"""A `{{ ... }}` placeholder in a template; group 1 is the field."""


@dataclass(frozen=True, slots=True)
class FieldRef:
    """A parsed field: what it reads (`kind`, `ref`) and the keys inside (`keys`)."""

    kind: Literal["initial_prompt", "results", "agent"]
    ref: str | None
    keys: tuple[str, ...]

    def raw_path(self) -> tuple[str, ...]:
        """The context path without resolving `ref` (a seed field reads its own context key)."""
        if self.kind == "initial_prompt":
            return ("initial_prompt",)
        assert self.ref is not None
        if self.kind == "results":
            return ("results", self.ref, *self.keys)
        return (f"agent_{self.ref}_result", *self.keys)


def parse_field(text: str) -> FieldRef | None:
    """Parse a field; `None` when it follows none of the three forms."""
    segments = text.split(".")
    if len(segments) > LIMITS.max_path_segments + 2:
        return None
    if any(_SEGMENT.fullmatch(s) is None for s in segments):
        return None
    head, keys = segments[0], tuple(segments[1:])
    if head == "initial_prompt":
        return FieldRef("initial_prompt", None, ()) if not keys else None
    if head == "results":
        if not keys or ID_PATTERN.fullmatch(keys[0]) is None:
            return None
        return FieldRef("results", keys[0], keys[1:])
    match = _AGENT_HEAD.fullmatch(head)
    if match is None or ID_PATTERN.fullmatch(match[1]) is None:
        return None
    return FieldRef("agent", match[1], keys)
