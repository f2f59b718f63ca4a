"""Builders of workflow documents for the validation tests, and the problems they raise."""

from __future__ import annotations

from typing import Any

import pytest

import dsl


def step(step_id: str, **fields: Any) -> dict[str, Any]:
    """A minimal valid step whose agent id is its id unless given."""
    return {"id": step_id, "agent_id": fields.pop("agent_id", step_id), **fields}


def workflow(*steps: dict[str, Any], kind: str = "dag", **top: Any) -> dict[str, Any]:
    """A workflow of these steps (a `dag` unless ``kind`` says otherwise)."""
    return {"type": kind, "agents": list(steps), **top}


def problems(document: object) -> list[tuple[str, str]]:
    """(code, path) of every problem `dsl.load` reports for ``document``."""
    with pytest.raises(dsl.DslValidationError) as caught:
        dsl.load(document)  # type: ignore[arg-type]
    return [(p.code, p.path) for p in caught.value.problems]


def cond(field: str, operator: str, *value: Any) -> dict[str, Any]:
    """A `{field, operator, value}` condition (no value when none is given)."""
    return {"field": field, "operator": operator, **({"value": value[0]} if value else {})}
