"""Parsing of one step's input and options, against the ids found in the first pass."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Final

from dsl._reader import KEY_NAME_PATTERN, At, Reader
from dsl.fields import PLACEHOLDER
from dsl.model import (
    CombinedInput,
    CombinedSource,
    InputSpec,
    PromptInput,
    ResultInput,
    TemplateInput,
    TemplatePart,
)
from dsl.options import LIMITS, OnFailure, RetryPolicy, StepOptions

RefReader = Callable[[object, At], "str | None"]
"""(reference, location) → step id, or `None` once a problem has been recorded."""
FieldResolver = Callable[[str, At], "tuple[str, ...] | None"]
"""(placeholder, location) → context path, or `None` once a problem has been recorded."""

SOURCES: Final = ("initial_prompt", "agent_result", "combined", "template")
_INPUT_KEYS: Final = {
    "initial_prompt": ("source",),
    "agent_result": ("source", "agent_id", "step"),
    "combined": ("source", "sources"),
    "template": ("source", "template"),
}
_OPTION_KEYS: Final = frozenset({"model", "timeout_s", "retry", "on_failure", "requires_keys"})
_RETRY_KEYS: Final = ("max_attempts", "backoff_s", "max_backoff_s")
_DEFAULT_OPTIONS: Final = StepOptions()
_DEFAULT_RETRY: Final = RetryPolicy()
PROMPT_INPUT: Final = PromptInput()


class StepParser:
    """Reads inputs and options; `labels` maps step ids to the role shown as a heading."""

    __slots__ = ("defaults", "labels", "read_ref", "reader", "resolve_field")

    def __init__(
        self,
        reader: Reader,
        read_ref: RefReader,
        resolve_field: FieldResolver,
        labels: Mapping[str, str],
        *,
        default_model: str | None = None,
    ) -> None:
        self.defaults = (_DEFAULT_OPTIONS if default_model is None
                         else replace(_DEFAULT_OPTIONS, model=default_model))  # fmt: skip
        self.reader = reader
        self.read_ref = read_ref
        self.resolve_field = resolve_field
        self.labels = labels

    def input(self, value: object, path: At) -> InputSpec:
        """The step's `input`; problems recorded, the initial prompt used in their place."""
        obj = self.reader.obj(value, path)
        if obj is None:
            return PROMPT_INPUT
        if "source" not in obj:
            self.reader.add("missing_field", (path, "source"), "missing field 'source'")
            return PROMPT_INPUT
        source = self.reader.choice(obj["source"], (path, "source"), SOURCES, "invalid_value")
        if source is None:
            return PROMPT_INPUT
        allowed = _INPUT_KEYS[source]
        required = ("template",) if source == "template" else ()
        required = ("sources",) if source == "combined" else required
        self.reader.fields(obj, path, allowed, required)
        if source == "agent_result":
            step = self._reference(obj, path)
            return PROMPT_INPUT if step is None else ResultInput(step)
        if source == "combined" and "sources" in obj:
            return self._combined(obj["sources"], (path, "sources"))
        if source == "template" and "template" in obj:
            return self._template(obj["template"], (path, "template"))
        return PROMPT_INPUT

    def _reference(self, obj: Mapping[Any, Any], path: At) -> str | None:
        """The step named by `agent_id` (seed spelling) or `step`: exactly one of them."""
        keys = [key for key in ("agent_id", "step") if key in obj]
        if len(keys) != 1:
            code, text = (
                ("conflicting_fields", "give agent_id or step, not both")
                if keys
                else ("missing_field", "missing field 'agent_id'")
            )
            self.reader.add(code, (path, "agent_id"), text)
            return None
        return self.read_ref(obj[keys[0]], (path, keys[0]))

    def _combined(self, value: object, path: At) -> InputSpec:
        items = self.reader.array(value, path, LIMITS.max_list_items)
        if items is None:
            return PROMPT_INPUT
        if not items:
            self.reader.add("empty_list", path, "combined needs at least one source")
        sources: list[CombinedSource] = []
        for i, item in enumerate(items):
            at = (path, i)
            obj = self.reader.obj(item, at)
            if obj is None:
                continue
            if "type" not in obj:
                self.reader.add("missing_field", (at, "type"), "missing field 'type'")
                continue
            kind = self.reader.choice(
                obj["type"],
                (at, "type"),
                ("agent_result", "initial_prompt"),
                "invalid_value",
            )
            if kind == "initial_prompt":
                self.reader.fields(obj, at, ("type",), ())
                sources.append(CombinedSource(None, "Initial prompt"))
            elif kind == "agent_result":
                self.reader.fields(obj, at, ("type", "agent_id", "step"), ())
                step = self._reference(obj, at)
                if step is not None:
                    sources.append(CombinedSource(step, self.labels.get(step, step)))
        return CombinedInput(tuple(sources))

    def _template(self, value: object, path: At) -> InputSpec:
        text = self.reader.string(value, path, LIMITS.max_template_chars)
        if text is None:
            return PROMPT_INPUT
        parts: list[TemplatePart] = []
        position = 0
        for count, match in enumerate(PLACEHOLDER.finditer(text)):
            if count == LIMITS.max_placeholders:
                self.reader.add(
                    "too_many_items", path, f"more than {LIMITS.max_placeholders} placeholders"
                )
                break
            if match.start() > position:
                parts.append(TemplatePart(text[position : match.start()]))
            position = match.end()
            context_path = self.resolve_field(match[1], path)
            if context_path is not None:
                parts.append(TemplatePart(path=context_path))
        if position < len(text):
            parts.append(TemplatePart(text[position:]))
        return TemplateInput(tuple(parts))

    def options(self, obj: Mapping[Any, Any], path: At) -> StepOptions:
        """The step's options, defaults for what is left out or invalid."""
        if _OPTION_KEYS.isdisjoint(obj):
            return self.defaults
        read, defaults = self.reader, self.defaults
        model = defaults.model
        if obj.get("model") is not None:
            model = read.string(obj["model"], (path, "model"), LIMITS.max_text_chars)
        timeout_s = defaults.timeout_s
        if "timeout_s" in obj:
            found = read.number(obj["timeout_s"], (path, "timeout_s"), 0.001, LIMITS.max_timeout_s)
            timeout_s = timeout_s if found is None else float(found)
        on_failure: OnFailure = defaults.on_failure
        if "on_failure" in obj:
            chosen = read.choice(
                obj["on_failure"],
                (path, "on_failure"),
                ("fail", "continue"),
                "invalid_value",
            )
            on_failure = "continue" if chosen == "continue" else "fail"
        keys: tuple[str, ...] = ()
        if "requires_keys" in obj:
            keys = self._keys(obj["requires_keys"], (path, "requires_keys"))
        retry = defaults.retry
        if "retry" in obj:
            retry = self._retry(obj["retry"], (path, "retry"))
        return StepOptions(model, timeout_s, retry, on_failure, keys)

    def _keys(self, value: object, path: At) -> tuple[str, ...]:
        items = self.reader.array(value, path, LIMITS.max_list_items)
        found: dict[str, None] = {}
        for i, item in enumerate(items or ()):
            name = self.reader.string(item, (path, i), LIMITS.max_id_chars, KEY_NAME_PATTERN)
            if name in found:
                self.reader.add("duplicate_item", (path, i), f"{name!r} listed twice")
            elif name is not None:
                found[name] = None
        return tuple(found)

    def _retry(self, value: object, path: At) -> RetryPolicy:
        obj = self.reader.obj(value, path)
        if obj is None:
            return _DEFAULT_RETRY
        self.reader.fields(obj, path, _RETRY_KEYS, ())
        attempts = backoff_s = max_backoff_s = None
        read = self.reader.number
        if "max_attempts" in obj:
            attempts = read(
                obj["max_attempts"], (path, "max_attempts"), 1, LIMITS.max_attempts, integer=True
            )
        if "backoff_s" in obj:
            backoff_s = read(obj["backoff_s"], (path, "backoff_s"), 0, LIMITS.max_timeout_s)
        if "max_backoff_s" in obj:
            max_backoff_s = read(
                obj["max_backoff_s"], (path, "max_backoff_s"), 0, LIMITS.max_timeout_s
            )
        attempts = _DEFAULT_RETRY.max_attempts if attempts is None else attempts
        backoff_s = _DEFAULT_RETRY.backoff_s if backoff_s is None else backoff_s
        if max_backoff_s is None:  # left out: the default, or backoff_s when that is larger
            max_backoff_s = max(_DEFAULT_RETRY.max_backoff_s, backoff_s)
        if max_backoff_s < backoff_s:
            self.reader.add(
                "out_of_range", (path, "max_backoff_s"), "must not be smaller than backoff_s"
            )
        return RetryPolicy(int(attempts), float(backoff_s), float(max_backoff_s))
