"""`evaluate()`: conditions against the shared context, total and bounded.

Semantics, for the value found at the condition's field:

- a field that does not resolve is *absent*; `exists` is true when the field
  resolves to anything but `null`;
- `equals` is JSON equality (`1 == 1.0`, but `true != 1`); `in` is equality
  with one item of the array;
- `contains`: substring of a string, item of an array, or key of an object;
- `gt`, `gte`, `lt`, `lte` compare numbers only (no coercion of `"7"`);
- `matches` searches a string with a pattern (regex module), the subject at
  most `LIMITS.max_match_subject_chars` long, under `LIMITS.regex_timeout_s`;
- any type mismatch, timeout or absent field makes an operator false, never
  an exception; each `not_*` operator is the exact negation of its positive
  twin (so `not_in` holds for an absent field).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from dsl._parse_conditions import ConditionParser
from dsl._patterns import search
from dsl._reader import At, Reader, is_number
from dsl.errors import DslValidationError
from dsl.fields import parse_field
from dsl.model import AllOf, AnyOf, Compare, Condition, NotOf

__all__ = ["ABSENT", "evaluate", "lookup"]

ABSENT: Final = object()
"""What `lookup()` returns for a path that does not resolve."""


def lookup(context: Mapping[str, Any], path: Sequence[str]) -> Any:
    """The value at a context path (numeric keys index arrays), or `ABSENT`."""
    value: Any = context
    for key in path:
        if isinstance(value, Mapping):
            value = value.get(key, ABSENT)
        elif isinstance(value, list | tuple) and key.isascii() and key.isdigit():
            position = int(key)
            value = value[position] if position < len(value) else ABSENT
        else:
            return ABSENT
        if value is ABSENT:
            return ABSENT
    return value


def evaluate(condition: Condition | Mapping[str, Any], context: Mapping[str, Any]) -> bool:
    """Whether a condition holds on the context (see the module docstring).

    `condition` is a compiled condition from a plan, or a raw DSL condition,
    which is validated first (`DslValidationError`) and whose seed-style field
    `agent_<id>_result.key` then reads the context key `agent_<id>_result`.
    """
    node = _parse(condition) if isinstance(condition, Mapping) else condition
    return _holds(node, context)


def _parse(raw: Mapping[str, Any]) -> Condition:
    reader = Reader()

    def resolve(field: str, path: At) -> tuple[str, ...] | None:
        parsed = parse_field(field)
        if parsed is None:
            reader.add("invalid_field", path, f"{field[:80]!r} is not a known field form")
            return None
        return parsed.raw_path()

    node = ConditionParser(reader, resolve).node(raw, "", 1)
    if reader.problems or node is None:
        raise DslValidationError(reader.problems)
    return node


def _holds(node: Condition, context: Mapping[str, Any]) -> bool:
    if isinstance(node, Compare):
        try:
            return _compare(node.operator, lookup(context, node.path), node.value)
        except Exception:  # run time never raises: a surprise is "does not hold"
            return False
    if isinstance(node, AllOf):
        return all(_holds(item, context) for item in node.items)
    if isinstance(node, AnyOf):
        return any(_holds(item, context) for item in node.items)
    if isinstance(node, NotOf):
        return not _holds(node.item, context)
    return False


def _compare(operator: str, actual: Any, expected: Any) -> bool:
    if operator.startswith("not_"):
        return not _compare(operator[4:], actual, expected)
    if actual is ABSENT:
        return False
    if operator == "equals":
        return _same(actual, expected)
    if operator == "exists":
        return actual is not None
    if operator == "in":
        return any(_same(actual, item) for item in expected)
    if operator == "contains":
        if isinstance(actual, str):
            return isinstance(expected, str) and expected in actual
        if isinstance(actual, list | tuple):
            return any(_same(item, expected) for item in actual)
        return isinstance(actual, Mapping) and isinstance(expected, str) and expected in actual
    if operator == "matches":
        return isinstance(actual, str) and isinstance(expected, str) and search(expected, actual)
    if not (is_number(actual) and is_number(expected)):
        return False
    if operator == "gt":
        return bool(actual > expected)
    if operator == "gte":
        return bool(actual >= expected)
    if operator == "lt":
        return bool(actual < expected)
    return operator == "lte" and bool(actual <= expected)


def _same(left: Any, right: Any) -> bool:
    """JSON equality of scalars: booleans equal only booleans, numbers compare by value."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if is_number(left) and is_number(right):
        return bool(left == right)
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    return left is None and right is None
