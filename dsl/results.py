"""Step results and the shared context built from them.

The context is plain JSON (the engine keeps it in Redis and PostgreSQL)::

    {"initial_prompt": "...",
     "agent_<ref>_result": <value>,   # seed keys: one per step id, and per agent id
                                      # that runs exactly one step and is no step id
     "results": {"<step id>": <value>},
     "texts": {"<step id>": "<answer text>"}}   # only where the value is parsed JSON

where a step's value is its parsed JSON when it has any, else its text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from dsl.errors import DslStateError
from dsl.plan import Plan

__all__ = ["ContextShape", "StepResult", "build_context", "parse_result"]

_FENCE: Final = re.compile(r"```[ \t]*json[ \t]*\r?\n(.*?)```", re.IGNORECASE | re.DOTALL)
_JSON_START: Final = frozenset('{["-0123456789tfn')  # what a JSON text can start with


@dataclass(frozen=True, slots=True)
class StepResult:
    """A step's final answer: its `text`, and `data` parsed from it when `has_data`."""

    text: str
    data: Any = None
    has_data: bool = False

    @property
    def value(self) -> Any:
        """What conditions and the context see: the parsed JSON if any, else the text."""
        return self.data if self.has_data else self.text

    def to_dict(self) -> dict[str, Any]:
        """The result as plain JSON."""
        return {"text": self.text, "data": self.data, "has_data": self.has_data}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StepResult:
        """Inverse of `to_dict()`."""
        return cls(str(data["text"]), data.get("data"), bool(data.get("has_data", False)))


def parse_result(text: str) -> StepResult:
    """The answer text, plus its JSON when the whole (stripped) text is JSON or when it
    holds exactly one fenced ```` ```json ```` block. NaN and Infinity are not JSON."""
    stripped = text.strip()
    if stripped and stripped[0] in _JSON_START:
        found, data = _json(stripped)
        if found:
            return StepResult(text, data, True)
    if "```" in text:
        blocks = _FENCE.findall(text)
        if len(blocks) == 1:
            found, data = _json(blocks[0].strip())
            if found:
                return StepResult(text, data, True)
    return StepResult(text)


def _json(text: str) -> tuple[bool, Any]:
    try:
        return True, json.loads(text, parse_constant=_reject)
    except (ValueError, RecursionError):
        return False, None


def _reject(name: str) -> Any:
    raise ValueError(name)


class ContextShape:
    """What `build_context` derives from the plan alone, computed once per plan."""

    __slots__ = ("_aliases_of", "aliases", "ids", "order")

    def __init__(self, plan: Plan) -> None:
        steps = sorted(plan.steps, key=lambda step: step.index)
        self.order = tuple(step.id for step in steps)
        self.ids = frozenset(self.order)
        runs: dict[str, int] = {}
        for step in steps:
            runs[step.agent_id] = runs.get(step.agent_id, 0) + 1
        pairs = [(step.id, step.id) for step in steps]
        pairs += [
            (s.agent_id, s.id)
            for s in steps
            if runs[s.agent_id] == 1 and s.agent_id not in self.ids
        ]
        self.aliases = tuple((f"agent_{ref}_result", step_id) for ref, step_id in pairs)
        """(context key, step id) of every `agent_<ref>_result` key, in workflow order."""
        self._aliases_of: dict[str, tuple[str, ...]] = {}
        for key, step_id in self.aliases:
            self._aliases_of[step_id] = (*self._aliases_of.get(step_id, ()), key)

    def part(self, step_id: str, result: StepResult) -> dict[str, Any]:
        """What one completed step adds to the context: its `agent_<ref>_result` keys, and its
        entries in `results` and `texts` (the context is the initial prompt plus every part)."""
        if step_id not in self.ids:
            raise DslStateError(f"result for a step not in the plan: {step_id!r}")
        value = result.value
        part: dict[str, Any] = dict.fromkeys(self._aliases_of.get(step_id, ()), value)
        part["results"] = {step_id: value}
        part["texts"] = {step_id: result.text} if result.has_data else {}
        return part

    def build(self, initial_prompt: str, results: Mapping[str, StepResult]) -> dict[str, Any]:
        """The context; see `build_context`."""
        unknown = [step_id for step_id in results if step_id not in self.ids]
        if unknown:
            raise DslStateError(f"results for steps not in the plan: {sorted(unknown)[:5]}")
        values: dict[str, Any] = {}
        texts: dict[str, str] = {}
        for step_id in self.order:
            result = results.get(step_id)
            if result is not None:
                values[step_id] = result.value
                if result.has_data:
                    texts[step_id] = result.text
        context: dict[str, Any] = {"initial_prompt": initial_prompt}
        for key, step_id in self.aliases:
            if step_id in values:
                context[key] = values[step_id]
        context["results"] = values
        context["texts"] = texts
        return context


def build_context(
    plan: Plan, initial_prompt: str, results: Mapping[str, StepResult]
) -> dict[str, Any]:
    """The shared context after the given steps have completed (see the module docstring).

    Pure: the same plan, prompt and results give an equal dict, keys in workflow order.
    `DslStateError` if a result belongs to no step of the plan.
    """
    return ContextShape(plan).build(initial_prompt, results)
