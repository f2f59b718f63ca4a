"""Parsing and checking of `conditions`: leaves, groups, operators, literal values, regexes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, cast

from dsl._patterns import pattern_problem
from dsl._reader import At, Reader, is_number, type_name
from dsl.model import OPERATORS, AllOf, AnyOf, Compare, Condition, JsonScalar, NotOf, Operator
from dsl.options import LIMITS

Resolve = Callable[[str, At], "tuple[str, ...] | None"]
"""(field, JSON pointer) → context path, or `None` once a problem has been recorded."""

_LEAF_KEYS: Final = frozenset({"field", "operator", "value"})
_GROUP_KEYS: Final = ("all", "any", "not")
_NO_VALUE: Final = frozenset({"exists", "not_exists"})
_ORDERING: Final = frozenset({"gt", "gte", "lt", "lte"})


class ConditionParser:
    """Parses the conditions of one document; counts regexes across all of it."""

    __slots__ = ("_nodes", "reader", "regexes", "resolve")

    def __init__(self, reader: Reader, resolve: Resolve) -> None:
        self.reader = reader
        self.resolve = resolve
        self.regexes = 0
        self._nodes = 0

    def parse_list(self, value: object, path: At) -> tuple[Condition, ...]:
        """A `conditions` array (all must hold); problems recorded, bad items dropped."""
        items = self.reader.array(value, path, LIMITS.max_list_items)
        if items is None:
            return ()
        self._nodes = 0
        parsed = (self.node(item, (path, i), 1) for i, item in enumerate(items))
        return tuple(c for c in parsed if c is not None)

    def node(self, value: object, path: At, depth: int) -> Condition | None:
        """One condition or group."""
        obj = self.reader.obj(value, path)
        if obj is None:
            return None
        self._nodes += 1
        if self._nodes == LIMITS.max_condition_nodes + 1:
            self.reader.add("too_many_conditions", path, "too many conditions under one step")
        if self._nodes > LIMITS.max_condition_nodes:
            return None
        groups = [key for key in _GROUP_KEYS if key in obj]
        if not groups:
            return self._leaf(obj, path)
        if len(groups) > 1 or any(key in obj for key in _LEAF_KEYS):
            self.reader.add("conflicting_fields", path, "a group has exactly one of all/any/not")
            return None
        key = groups[0]
        self.reader.fields(obj, path, (key,), ())
        if depth >= LIMITS.max_condition_depth:
            self.reader.add("too_deep", (path, key), "groups nested too deeply")
            return None
        if key == "not":
            item = self.node(obj[key], (path, key), depth + 1)
            return None if item is None else NotOf(item)
        items = self.reader.array(obj[key], (path, key), LIMITS.max_list_items)
        if items is None:
            return None
        if not items:
            self.reader.add("empty_list", (path, key), "a group needs at least one item")
            return None
        sub = (path, key)
        parsed = [self.node(item, (sub, i), depth + 1) for i, item in enumerate(items)]
        if any(c is None for c in parsed):
            return None
        conditions = tuple(cast(list[Condition], parsed))
        return AllOf(conditions) if key == "all" else AnyOf(conditions)

    def _leaf(self, obj: Mapping[Any, Any], path: At) -> Compare | None:
        reader = self.reader
        reader.fields(obj, path, _LEAF_KEYS, ("field", "operator"))
        operator = None
        if "operator" in obj:
            operator = reader.choice(
                obj["operator"], (path, "operator"), OPERATORS, "unknown_operator"
            )
        context_path = None
        if "field" in obj:
            field = reader.string(obj["field"], (path, "field"), LIMITS.max_text_chars)
            context_path = None if field is None else self.resolve(field, (path, "field"))
        if operator is None:
            return None
        op = cast(Operator, operator)
        value = self._value(op, obj, path)
        if context_path is None or value is _BAD:
            return None
        return Compare(str(obj["field"]), context_path, op, cast(JsonScalar, value))

    def _value(self, op: Operator, obj: Mapping[Any, Any], path: At) -> object:
        reader, at = self.reader, (path, "value")
        if op in _NO_VALUE:
            if "value" in obj:
                reader.add("operator_value_mismatch", at, f"{op} takes no value")
                return _BAD
            return None
        if "value" not in obj:
            reader.add("missing_field", at, f"{op} needs a value")
            return _BAD
        value = obj["value"]
        if op in _ORDERING:
            if is_number(value):
                return value
            return self._mismatch(at, f"{op} compares numbers, got {type_name(value)}")
        if op == "matches":
            if not isinstance(value, str):
                return self._mismatch(at, f"matches needs a pattern string, got {type_name(value)}")
            problem = pattern_problem(value)
            self.regexes += 1
            if self.regexes == LIMITS.max_regexes + 1:
                reader.add("too_many_regexes", at, f"more than {LIMITS.max_regexes} patterns")
            if problem is not None:
                reader.add(problem[0], at, problem[1])
                return _BAD
            return value
        if op in ("in", "not_in"):
            if not isinstance(value, list | tuple):
                return self._mismatch(at, f"{op} needs an array, got {type_name(value)}")
            items = reader.array(value, at, LIMITS.max_list_items)
            if items is None:
                return _BAD
            ok = [self._scalar(item, (at, i)) for i, item in enumerate(items)]
            return _BAD if any(v is _BAD for v in ok) else tuple(items)
        return self._scalar(value, at)

    def _scalar(self, value: object, path: At) -> object:
        if value is None or isinstance(value, bool) or is_number(value):
            return value
        if isinstance(value, str):
            if len(value) > LIMITS.max_text_chars:
                self.reader.add("too_long", path, f"longer than {LIMITS.max_text_chars} characters")
                return _BAD
            return value
        return self._mismatch(
            path, f"expected a string, number, boolean or null, got {type_name(value)}"
        )

    def _mismatch(self, path: At, message: str) -> object:
        self.reader.add("operator_value_mismatch", path, message)
        return _BAD


_BAD: Final = object()
