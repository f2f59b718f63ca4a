"""`render_prompt()`: the message a step's agent receives, built from the shared context.

- `initial_prompt`: the initial prompt, verbatim;
- `agent_result`: the answer text of the step read;
- `combined`: each source under a `## <role>` heading (`## Initial prompt` for
  the initial prompt), separated by blank lines;
- `template`: the template with each `{{ field }}` replaced — a whole step
  result by its answer text, a value inside its JSON by the string itself or
  its compact JSON, a missing key by nothing. Substitution only: the text
  that is substituted is never scanned for placeholders again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from dsl.conditions import ABSENT, lookup
from dsl.errors import DslStateError
from dsl.model import CombinedInput, ResultInput, Step, TemplateInput
from dsl.plan import PlanStep

__all__ = ["render_prompt"]


def render_prompt(step: PlanStep | Step, context: Mapping[str, Any]) -> str:
    """The prompt for `step`; `DslStateError` if the context lacks a result the input reads."""
    spec = step.input
    if isinstance(spec, ResultInput):
        return _answer(context, spec.step)
    if isinstance(spec, CombinedInput):
        sections = []
        for source in spec.sources:
            body = _initial(context) if source.step is None else _answer(context, source.step)
            sections.append(f"## {source.label}\n\n{body}")
        return "\n\n".join(sections)
    if isinstance(spec, TemplateInput):
        pieces = []
        for part in spec.parts:
            if part.path is None:
                pieces.append(part.text)
            elif part.path == ("initial_prompt",):
                pieces.append(_initial(context))
            elif len(part.path) == 2:
                pieces.append(_answer(context, part.path[1]))
            else:
                _answer(context, part.path[1])  # the step itself must have a result
                pieces.append(_show(lookup(context, part.path)))
        return "".join(pieces)
    return _initial(context)


def _initial(context: Mapping[str, Any]) -> str:
    prompt = context.get("initial_prompt")
    if not isinstance(prompt, str):
        raise DslStateError("the context has no initial_prompt string")
    return prompt


def _answer(context: Mapping[str, Any], step_id: str) -> str:
    """The answer text of a step: its raw text when its value is parsed JSON."""
    texts = context.get("texts")
    if isinstance(texts, Mapping) and isinstance(texts.get(step_id), str):
        return str(texts[step_id])
    results = context.get("results")
    if not isinstance(results, Mapping) or step_id not in results:
        raise DslStateError(f"the context has no result of step {step_id!r}")
    return _show(results[step_id])


def _show(value: Any) -> str:
    if value is ABSENT:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
