"""`dsl.compile` and the stored form of a plan."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

import dsl


def deps(document: dict[str, Any]) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    plan = dsl.compile(dsl.load(document))
    return {step.id: (step.deps, step.needs) for step in plan.steps}


def result_of(ref: str) -> dict[str, str]:
    return {"source": "agent_result", "agent_id": ref}


def test_sequential_chains_steps_and_adds_input_dependencies() -> None:
    assert deps(
        {
            "type": "sequential",
            "agents": [
                {"agent_id": "a"},
                {"agent_id": "b"},
                {
                    "agent_id": "c",
                    "input": {
                        "source": "combined",
                        "sources": [
                            {"type": "agent_result", "agent_id": "a"},
                            {"type": "initial_prompt"},
                        ],
                    },
                },
            ],
        }
    ) == {"a": ((), ()), "b": (("a",), ()), "c": (("a", "b"), ("a",))}


def test_parallel_has_no_dependencies() -> None:
    assert deps({"type": "parallel", "agents": [{"agent_id": "a"}, {"agent_id": "b"}]}) == {
        "a": ((), ()),
        "b": ((), ()),
    }


def test_conditional_depends_on_what_it_reads() -> None:
    assert deps(
        {
            "type": "conditional",
            "agents": [
                {
                    "agent_id": "b",
                    "conditions": [{"field": "agent_a_result.x", "operator": "exists"}],
                },
                {"agent_id": "a"},
                {"agent_id": "c", "input": result_of("b")},
            ],
        }
    ) == {"a": ((), ()), "b": (("a",), ()), "c": (("b",), ("b",))}


def test_dag_orders_topologically_with_declaration_order_as_tie_break() -> None:
    plan = dsl.compile(
        dsl.load(
            {
                "type": "dag",
                "agents": [
                    {"agent_id": "d", "depends_on": ["b", "c"]},
                    {
                        "agent_id": "c",
                        "input": {"source": "template", "template": "{{results.a.k}}"},
                    },
                    {"agent_id": "b", "depends_on": ["a"]},
                    {"agent_id": "a"},
                ],
            }
        )
    )
    assert [s.id for s in plan.steps] == ["a", "c", "b", "d"]
    assert [s.index for s in plan.steps] == [3, 1, 2, 0]
    assert plan.step("c").needs == ("a",)
    with pytest.raises(KeyError):
        plan.step("zz")


DOCUMENT: dict[str, Any] = {
    "type": "conditional",
    "name": "router",
    "budget_usd": "1.25",
    "max_concurrency": 3,
    "agents": [
        {"agent_id": "classifier", "retry": {"max_attempts": 3}, "requires_keys": ["openai"]},
        {
            "agent_id": "tech",
            "model": "m",
            "on_failure": "continue",
            "conditions": [
                {
                    "any": [
                        {
                            "field": "agent_classifier_result.category",
                            "operator": "in",
                            "value": ["technical", 1, True, None, 2.5],
                        },
                        {"not": {"field": "initial_prompt", "operator": "matches", "value": "x+"}},
                    ]
                }
            ],
            "input": {
                "source": "template",
                "template": "{{initial_prompt}} {{results.classifier}}",
            },
        },
        {
            "agent_id": "writer",
            "input": {
                "source": "combined",
                "sources": [
                    {"type": "agent_result", "agent_id": "tech"},
                    {"type": "initial_prompt"},
                ],
            },
        },
    ],
}


def test_plans_are_deterministic_and_round_trip_through_json() -> None:
    plan = dsl.compile(dsl.load(DOCUMENT))
    assert plan == dsl.compile(dsl.load(json.loads(json.dumps(DOCUMENT))))
    stored = json.dumps(plan.to_dict(), sort_keys=True)
    assert stored == json.dumps(dsl.compile(dsl.load(DOCUMENT)).to_dict(), sort_keys=True)
    loaded = dsl.Plan.from_dict(json.loads(stored))
    assert loaded == plan
    assert loaded.options.budget_usd == Decimal("1.25")
    assert plan.to_dict()["options"]["budget_usd"] == "1.25"
    assert plan.to_dict()["version"] == dsl.PLAN_VERSION


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda d: d.update(version=99), "/version"),
        (lambda d: d["steps"].reverse(), "/steps/0"),
        (lambda d: d["steps"].append(d["steps"][0]), "/steps/3"),
        (lambda d: d.update(type="loop"), "/type"),
        (
            lambda d: d["steps"][1]["conditions"][0]["items"][1]["item"].update(value="("),
            "/steps/1",
        ),
        (lambda d: d["steps"][0].pop("agent_id"), "/steps/0/agent_id"),
    ],
)
def test_a_damaged_stored_plan_is_refused(change: Any, path: str) -> None:
    data = dsl.compile(dsl.load(DOCUMENT)).to_dict()
    change(data)
    with pytest.raises(dsl.DslValidationError) as caught:
        dsl.Plan.from_dict(data)
    assert {p.code for p in caught.value.problems} == {"invalid_plan"}
    assert path in [p.path for p in caught.value.problems]


def test_compile_refuses_a_hand_made_cyclic_workflow() -> None:
    workflow = dsl.load({"type": "dag", "agents": [{"agent_id": "a"}, {"agent_id": "b"}]})
    a, b = workflow.steps
    broken = dsl.Workflow(
        "dag",
        (
            dsl.Step(a.id, a.agent_id, a.role, a.input, a.conditions, ("b",), a.options),
            dsl.Step(b.id, b.agent_id, b.role, b.input, b.conditions, ("a",), b.options),
        ),
        workflow.options,
    )
    with pytest.raises(dsl.DslValidationError):
        dsl.compile(broken)


def test_retry_delays() -> None:
    policy = dsl.RetryPolicy(max_attempts=5, backoff_s=2.0, max_backoff_s=5.0)
    assert [policy.delay_s(n) for n in range(1, 6)] == [0.0, 2.0, 4.0, 5.0, 5.0]
    assert dsl.RetryPolicy().delay_s(10_000) == 60.0


def test_a_large_backoff_raises_the_default_cap() -> None:
    workflow = dsl.load({"agents": [{"agent_id": "a", "retry": {"backoff_s": 100}}]})
    assert workflow.steps[0].options.retry == dsl.RetryPolicy(1, 100.0, 100.0)


def test_the_graph_load_derived_is_reused_only_for_the_same_steps() -> None:
    import dataclasses

    workflow = dsl.load({"type": "dag", "agents": [{"agent_id": "a"}, {"agent_id": "b"}]})
    assert workflow.graph is not None and workflow.graph.steps is workflow.steps
    a, b = workflow.steps
    chained = dataclasses.replace(workflow, steps=(a, dataclasses.replace(b, depends_on=("a",))))
    assert chained.graph is workflow.graph  # carried along, but it no longer fits
    assert dsl.compile(chained).step("b").deps == ("a",)
    assert dsl.compile(workflow).step("b").deps == ()
    assert dataclasses.replace(workflow, graph=None) == workflow
