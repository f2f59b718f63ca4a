"""The example workflows load, compile and run as the seed describes."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest

import dsl

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"
SIMULATOR_AGENTS = {
    "researcher",
    "analyst",
    "writer",
    "classifier",
    "technical_support",
    "billing_support",
    "general",
}


def plan_of(name: str) -> dsl.Plan:
    return dsl.compile(dsl.load((EXAMPLES / name).read_text()))


def answer(text: str) -> Any:
    return lambda step: dsl.StepState("completed", dsl.parse_result(text))


def test_the_examples_are_all_here_and_use_the_simulator_agents() -> None:
    names = sorted(path.name for path in EXAMPLES.glob("*.json"))
    assert names == [
        "seed-combined.json",
        "seed-conditional.json",
        "seed-sequential.json",
        "support-router.json",
    ]
    for name in names:
        plan = plan_of(name)
        assert {step.agent_id for step in plan.steps} <= SIMULATOR_AGENTS
        assert dsl.Plan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan


@pytest.mark.parametrize("name", ["seed-sequential.json", "seed-combined.json"])
def test_the_research_team_runs_in_order(drive: Any, name: str) -> None:
    plan = plan_of(name)
    _, started, decision = drive(plan, answer("text"), prompt="Topic: tides")
    assert started == ["researcher", "analyst", "writer"]
    assert decision.status == "completed"


def test_the_combined_writer_sees_both_results_under_their_roles() -> None:
    plan = plan_of("seed-combined.json")
    results = {"researcher": dsl.StepResult("R."), "analyst": dsl.StepResult("A.")}
    context = dsl.build_context(plan, "Topic", results)
    assert (
        dsl.render_prompt(plan.step("writer"), context) == "## researcher\n\nR.\n\n## analyst\n\nA."
    )
    assert dsl.render_prompt(plan.step("analyst"), context) == "R."


@pytest.mark.parametrize(
    ("category", "routed"),
    [("technical", "technical_support"), ("billing", "billing_support"), ("sales", None)],
)
def test_the_seed_conditional_routes(drive: Any, category: str, routed: str | None) -> None:
    plan = plan_of("seed-conditional.json")
    _, started, decision = drive(plan, answer(json.dumps({"category": category})))
    assert started == ["classifier"] + ([routed] if routed else [])
    assert decision.status == "completed"


@pytest.mark.parametrize(
    ("classifier_says", "routed"),
    [
        ('{"category": "technical"}', "technical_support"),
        ('Sure.\n```json\n{"category": "billing"}\n```', "billing_support"),
        ('{"category": "sales"}', "general"),
        ("I could not decide.", "general"),
    ],
)
def test_the_support_router_falls_back_to_general(
    drive: Any, classifier_says: str, routed: str
) -> None:
    plan = plan_of("support-router.json")
    assert plan.options.budget_usd is not None and str(plan.options.budget_usd) == "0.50"
    state, started, decision = drive(plan, answer(classifier_says), prompt="My bill is wrong")
    assert started == ["classifier", routed]
    skipped = {step for step, value in state.items() if value.status == "skipped"}
    assert skipped == {"technical_support", "billing_support", "general"} - {routed}
    assert decision.status == "completed"


def test_the_support_router_prompt_carries_the_triage() -> None:
    plan = plan_of("support-router.json")
    results = {"classifier": dsl.parse_result('{"category": "technical"}')}
    context = dsl.build_context(plan, "It crashes", results)
    assert dsl.render_prompt(plan.step("technical_support"), context) == (
        "Customer request:\nIt crashes\n\nTriage: technical"
    )


def test_a_failed_classifier_fails_the_router(drive: Any) -> None:
    plan = plan_of("support-router.json")
    _, started, decision = drive(plan, lambda step: dsl.StepState("failed"))
    assert (started, decision.status) == (["classifier"], "failed")
