"""`evaluate()`: conditions against the shared context, total and bounded.

Semantics, for the value found at the condition's field:

- a field that does not resolve is *absent*; `exists` is true when the field
  resolves to anything but `null`;
- `equals` is JSON equality (`1 == 1.0`, but `true != 1`); `in` is equality
  with one item of the array;
- `contains`: substring of a string, item of an array, or key of an object;
- `gt`, `gte`, `lt`, `lte` compare numbers only (no coercion of `"7"`);
- `matches` searches a string with a pattern (regex module);
- any type mismatch or absent field makes an operator false, never an
  exception; each `not_*` operator is the exact negation of its positive
  twin (so `not_in` holds for an absent field).

Cost: a path has at most `LIMITS.max_path_segments` segments and a literal at
most `LIMITS.max_text_chars` characters, so every operator but `contains` and
`matches` costs at most the literal's size. Those two scan the field, so they
are bounded: the field's size (`max_condition_chars`, `max_condition_items`,
`max_match_subject_chars`), each search's time (`regex_timeout_s`) and the CPU
time of all evaluations sharing one `Budget` (`condition_budget_s`). A
condition past a bound is neither true nor false: `evaluate()` raises
`DslCostError` (a false would quietly run the step a `not` guards).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Final

from dsl._parse_conditions import ConditionParser
from dsl._patterns import search
from dsl._reader import At, Reader, is_number
from dsl.errors import DslCostError, DslValidationError
from dsl.fields import parse_field
from dsl.model import AllOf, AnyOf, Compare, Condition, NotOf
from dsl.options import LIMITS

__all__ = ["ABSENT", "SCANNING", "Budget", "evaluate", "lookup"]

SCANNING: Final = frozenset({"contains", "not_contains", "matches"})
"""The operators whose cost grows with the field's size."""

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


class Budget:
    """CPU time that evaluations may still take, in the thread that created the budget."""

    __slots__ = ("_until",)

    def __init__(self, seconds: float = LIMITS.condition_budget_s) -> None:
        self._until = time.thread_time() + seconds

    def left_s(self) -> float:
        """Seconds left; `DslCostError` once there are none."""
        left = self._until - time.thread_time()
        if left <= 0:
            raise DslCostError(
                "condition_budget_s",
                f"the conditions of one decision took more than {LIMITS.condition_budget_s:g} s"
                " of CPU time together",
            )
        return left


def evaluate(
    condition: Condition | Mapping[str, Any],
    context: Mapping[str, Any],
    budget: Budget | None = None,
) -> bool:
    """Whether a condition holds on the context (see the module docstring).

    `condition` is a compiled condition from a plan, or a raw DSL condition,
    which is validated first (`DslValidationError`) and whose seed-style field
    `agent_<id>_result.key` then reads the context key `agent_<id>_result`.
    `budget` is shared by the evaluations it bounds together (a fresh one if
    left out); `DslCostError` when a bound is hit.
    """
    node = _parse(condition) if isinstance(condition, Mapping) else condition
    return _holds(node, context, Budget() if budget is None else budget)


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


def _holds(node: Condition, context: Mapping[str, Any], budget: Budget) -> bool:
    if isinstance(node, Compare):
        try:
            actual = lookup(context, node.path)
            if node.operator in SCANNING:
                return _scan(node, actual, budget)
            return _compare(node.operator, actual, node.value)
        except DslCostError:
            raise
        except Exception:  # run time never raises: a surprise is "does not hold"
            return False
    if isinstance(node, AllOf):
        return all(_holds(item, context, budget) for item in node.items)
    if isinstance(node, AnyOf):
        return any(_holds(item, context, budget) for item in node.items)
    if isinstance(node, NotOf):
        return not _holds(node.item, context, budget)
    return False


def _scan(node: Compare, actual: Any, budget: Budget) -> bool:
    """`contains`, `not_contains` and `matches`, within the bounds of the module docstring."""
    if node.operator != "matches":
        if isinstance(actual, str):
            _check_size(node, actual, LIMITS.max_condition_chars, "max_condition_chars")
        else:
            _check_size(node, actual, LIMITS.max_condition_items, "max_condition_items")
        budget.left_s()
        return _compare(node.operator, actual, node.value)
    if not (isinstance(actual, str) and isinstance(node.value, str)):
        return False
    _check_size(node, actual, LIMITS.max_match_subject_chars, "max_match_subject_chars")
    timeout_s = min(LIMITS.regex_timeout_s, budget.left_s())
    try:
        return search(node.value, actual, timeout_s)
    except TimeoutError:
        if timeout_s < LIMITS.regex_timeout_s:
            budget.left_s()  # the budget ran out during the search: say so
        raise DslCostError(
            "regex_timeout_s",
            f"{_named(node)}: the search took longer than {LIMITS.regex_timeout_s:g} s",
        ) from None


def _check_size(node: Compare, actual: Any, bound: int, name: str) -> None:
    if isinstance(actual, str | list | tuple) and len(actual) > bound:
        unit = "characters" if isinstance(actual, str) else "items"
        raise DslCostError(
            name, f"{_named(node)}: the field has {len(actual):,} {unit}, more than {bound:,}"
        )


def _named(node: Compare) -> str:
    return f"{node.operator} on {node.field[:80]!r}"


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
