"""`json_schema()`: the JSON Schema (draft 2020-12) of the workflow DSL, for the API to serve.

The schema describes shapes; what it cannot say (references, cycles, ordering,
regexes that compile, placeholders) `load()` checks and reports.
"""

from __future__ import annotations

import copy
from typing import Any, Final

from dsl.model import OPERATORS
from dsl.options import LIMITS, RetryPolicy, StepOptions, WorkflowOptions

__all__ = ["json_schema"]

_ID: Final = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_-]*$"}
_TEXT: Final = {"type": "string", "minLength": 1, "maxLength": LIMITS.max_text_chars}
_SCALAR: Final = {"type": ["string", "number", "boolean", "null"]}


def _object(properties: dict[str, Any], *required: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
        **extra,
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/$defs/{name}"}


def _seconds(default: float) -> dict[str, Any]:
    return {
        "type": "number",
        "exclusiveMinimum": 0,
        "maximum": LIMITS.max_timeout_s,
        "default": default,
    }


_STEP_REF: Final = {"type": "string", "maxLength": LIMITS.max_agent_id_chars, **_ID}
_REFERENCE: Final = {
    "oneOf": [
        {"required": ["agent_id"], "not": {"required": ["step"]}},
        {"required": ["step"], "not": {"required": ["agent_id"]}},
    ]
}
_RETRY, _STEP, _WORKFLOW = RetryPolicy(), StepOptions(), WorkflowOptions()

_DEFS: Final[dict[str, Any]] = {
    "id": {**_ID, "maxLength": LIMITS.max_id_chars},
    "input": {
        "oneOf": [
            _object({"source": {"const": "initial_prompt"}}, "source"),
            _object(
                {"source": {"const": "agent_result"}, "agent_id": _STEP_REF, "step": _STEP_REF},
                "source",
                **_REFERENCE,
            ),
            _object(
                {
                    "source": {"const": "combined"},
                    "sources": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": LIMITS.max_list_items,
                        "items": {
                            "oneOf": [
                                _object({"type": {"const": "initial_prompt"}}, "type"),
                                _object(
                                    {
                                        "type": {"const": "agent_result"},
                                        "agent_id": _STEP_REF,
                                        "step": _STEP_REF,
                                    },
                                    "type",
                                    **_REFERENCE,
                                ),
                            ]
                        },
                    },
                },
                "source",
                "sources",
            ),
            _object(
                {
                    "source": {"const": "template"},
                    "template": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": LIMITS.max_template_chars,
                    },
                },
                "source",
                "template",
            ),
        ]
    },
    "condition": {
        "oneOf": [
            _object(
                {
                    "field": _TEXT,
                    "operator": {"enum": list(OPERATORS)},
                    "value": {
                        "oneOf": [
                            _SCALAR,
                            {"type": "array", "items": _SCALAR, "maxItems": LIMITS.max_list_items},
                        ]
                    },
                },
                "field",
                "operator",
            ),
            _object(
                {
                    "all": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": LIMITS.max_list_items,
                        "items": _ref("condition"),
                    }
                },
                "all",
            ),
            _object(
                {
                    "any": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": LIMITS.max_list_items,
                        "items": _ref("condition"),
                    }
                },
                "any",
            ),
            _object({"not": _ref("condition")}, "not"),
        ]
    },
    "retry": _object(
        {
            "max_attempts": {
                "type": "integer",
                "minimum": 1,
                "maximum": LIMITS.max_attempts,
                "default": _RETRY.max_attempts,
            },
            "backoff_s": {
                "type": "number",
                "minimum": 0,
                "maximum": LIMITS.max_timeout_s,
                "default": _RETRY.backoff_s,
            },
            "max_backoff_s": {
                "type": "number",
                "minimum": 0,
                "maximum": LIMITS.max_timeout_s,
                "default": _RETRY.max_backoff_s,
            },
        }
    ),
    "step": _object(
        {
            "id": _ref("id"),
            "agent_id": {**_STEP_REF, "description": "The Suna agent that runs the step."},
            "role": _TEXT,
            "input": _ref("input"),
            "conditions": {
                "type": "array",
                "maxItems": LIMITS.max_list_items,
                "items": _ref("condition"),
            },
            "depends_on": {
                "type": "array",
                "maxItems": LIMITS.max_steps,
                "uniqueItems": True,
                "items": _STEP_REF,
                "description": "Only in type dag.",
            },
            "model": {"oneOf": [_TEXT, {"type": "null"}]},
            "timeout_s": _seconds(_STEP.timeout_s),
            "retry": _ref("retry"),
            "on_failure": {"enum": ["fail", "continue"], "default": _STEP.on_failure},
            "requires_keys": {
                "type": "array",
                "maxItems": LIMITS.max_list_items,
                "uniqueItems": True,
                "items": {"type": "string", "pattern": "^[a-z0-9_-]{1,64}$"},
            },
        },
        "agent_id",
    ),
}

_SCHEMA: Final[dict[str, Any]] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://renum.dev/schemas/workflow.json",
    "title": "Renum workflow",
    **_object(
        {
            "type": {
                "enum": ["sequential", "parallel", "conditional", "dag"],
                "default": "sequential",
            },
            "name": {"oneOf": [_TEXT, {"type": "null"}]},
            "description": {"oneOf": [_TEXT, {"type": "null"}]},
            "agents": {
                "type": "array",
                "minItems": 1,
                "maxItems": LIMITS.max_steps,
                "items": _ref("step"),
            },
            "max_concurrency": {
                "type": "integer",
                "minimum": 1,
                "maximum": LIMITS.max_steps,
                "default": _WORKFLOW.max_concurrency,
            },
            "timeout_s": _seconds(_WORKFLOW.timeout_s),
            "model": {"oneOf": [_TEXT, {"type": "null"}],
                      "description": "The model of every step that names none (provider/name)."},
            "budget_usd": {
                "oneOf": [
                    {"type": "number", "minimum": 0, "maximum": int(LIMITS.max_budget_usd)},
                    {"type": "string", "pattern": r"^[0-9]{1,12}(\.[0-9]{1,12})?$"},
                    {"type": "null"},
                ]
            },
        },
        "agents",
    ),
    "$defs": _DEFS,
}


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a workflow document (a fresh copy each call)."""
    return copy.deepcopy(_SCHEMA)
