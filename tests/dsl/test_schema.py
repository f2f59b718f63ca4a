"""`dsl.json_schema` describes what `dsl.load` accepts (checked with a small validator)."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest

import dsl

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


def test_the_schema_is_json_and_a_fresh_copy() -> None:
    schema = dsl.json_schema()
    assert json.loads(json.dumps(schema)) == schema
    schema["title"] = "changed"
    assert dsl.json_schema()["title"] == "Renum workflow"
    assert schema["$defs"]["step"]["properties"]["timeout_s"]["default"] == (
        dsl.StepOptions().timeout_s
    )


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_the_examples_conform(conforms: Any, path: pathlib.Path) -> None:
    assert conforms(json.loads(path.read_text()))


@pytest.mark.parametrize(
    "document",
    [
        {"agents": []},
        {"agents": [{"agent_id": "a", "colour": "red"}]},
        {"agents": [{"agent_id": "a b"}]},
        {"agents": [{"agent_id": "a", "conditions": [{"field": "f", "operator": "like"}]}]},
        {"agents": [{"agent_id": "a", "input": {"source": "agent_result"}}]},
        {
            "agents": [
                {"agent_id": "a", "input": {"source": "agent_result", "agent_id": "b", "step": "b"}}
            ]
        },
        {"agents": [{"agent_id": "a"}], "type": "loop"},
        {"agents": [{"agent_id": "a"}], "budget_usd": "1,5"},
        {"agents": [{"agent_id": "a", "retry": {"max_attempts": 0}}]},
    ],
)
def test_shape_errors_do_not_conform(conforms: Any, document: Any) -> None:
    assert not conforms(document)
    with pytest.raises(dsl.DslValidationError):
        dsl.load(document)
