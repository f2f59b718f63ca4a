"""Hypothesis profiles and a scheduler driver for the DSL tests.

`HYPOTHESIS_PROFILE=full` runs 10,000 cases per property; the default `ci`
profile runs 200 so that the whole suite stays within seconds.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

import dsl

settings.register_profile(
    "ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "full", max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

Outcome = Callable[[str], dsl.StepState]
Pick = Callable[[Sequence[str]], str]


def run_plan(
    plan: dsl.Plan,
    outcome: Outcome,
    *,
    prompt: str = "a prompt",
    pick: Pick | None = None,
    fresh_scheduler: Callable[[int], bool] | None = None,
) -> tuple[dict[str, dsl.StepState], list[str], dsl.Decision]:
    """Drive a plan like the engine would: decide, apply, finish one running step, repeat.

    `outcome(step)` gives the state a started step ends in; `pick(running)` chooses the
    step that finishes next (the first by default); `fresh_scheduler(turn)` says when to
    rebuild the scheduler from the stored plan, as a worker taking over would.
    Checks on the way that no step starts twice, concurrency holds and nothing stalls.
    """
    scheduler = dsl.Scheduler(plan)
    state: dict[str, dsl.StepState] = {}
    started: list[str] = []
    for turn in range(10 * len(plan.steps) + 10):
        if fresh_scheduler is not None and fresh_scheduler(turn):
            scheduler = dsl.Scheduler(dsl.Plan.from_dict(plan.to_dict()))
        decision = scheduler.decide(state, initial_prompt=prompt)
        assert decision == scheduler.decide(dict(state), initial_prompt=prompt)
        for step_id, _reason in decision.skip:
            assert state.get(step_id, dsl.StepState()).status == "pending"
            state[step_id] = dsl.StepState("skipped")
        for step_id in decision.cancel:
            assert state[step_id].status == "running"
            state[step_id] = dsl.StepState("cancelled")
        for step_id in decision.start:
            assert step_id not in state, f"{step_id} started twice"
            _check_may_start(plan, plan.step(step_id), state, prompt)
            started.append(step_id)
            state[step_id] = dsl.StepState("running")
        running = [s.id for s in plan.steps if state.get(s.id, dsl.StepState()).status == "running"]
        assert len(running) <= plan.options.max_concurrency
        if decision.finished:
            assert not running
            assert all(state.get(s.id) is not None for s in plan.steps), "a step left pending"
            again = scheduler.decide(state, initial_prompt=prompt)
            assert again == dsl.Decision(finished=True, status=decision.status)
            return state, started, decision
        assert running, f"stalled with {decision}"
        finishing = (pick or (lambda ids: ids[0]))(running)
        state[finishing] = outcome(finishing)
    raise AssertionError("the scheduler did not finish")


def _check_may_start(
    plan: dsl.Plan, step: dsl.PlanStep, state: dict[str, dsl.StepState], prompt: str
) -> None:
    settled = {"completed", "failed", "skipped", "cancelled"}
    assert all(state[dep].status in settled for dep in step.deps), step.id
    assert all(state[need].status == "completed" for need in step.needs), step.id
    results = {
        sid: value.result or dsl.StepResult("")
        for sid, value in state.items()
        if value.status == "completed"
    }
    context = dsl.build_context(plan, prompt, results)
    assert all(dsl.evaluate(c, context) for c in step.conditions), step.id
    dsl.render_prompt(step, context)  # every input it reads is there


@pytest.fixture(scope="session")
def drive() -> Callable[..., tuple[dict[str, dsl.StepState], list[str], dsl.Decision]]:
    """The `run_plan` driver."""
    return run_plan


TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def valid(value: Any, schema: dict[str, Any], root: dict[str, Any]) -> bool:
    """The subset of JSON Schema 2020-12 that `dsl.json_schema()` uses."""
    if "$ref" in schema:
        target = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return valid(value, target, root)
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not any(TYPES[kind](value) for kind in kinds):
            return False
    checks = [
        "enum" not in schema or value in schema["enum"],
        "const" not in schema or value == schema["const"],
        "oneOf" not in schema or sum(valid(value, s, root) for s in schema["oneOf"]) == 1,
        "not" not in schema or not valid(value, schema["not"], root),
    ]
    if isinstance(value, str):
        checks += [
            len(value) >= schema.get("minLength", 0),
            len(value) <= schema.get("maxLength", len(value)),
            "pattern" not in schema or re.search(schema["pattern"], value) is not None,
        ]
    if TYPES["number"](value):
        checks += [
            value >= schema.get("minimum", value),
            value <= schema.get("maximum", value),
            "exclusiveMinimum" not in schema or value > schema["exclusiveMinimum"],
        ]
    if isinstance(value, list):
        checks += [
            len(value) >= schema.get("minItems", 0),
            len(value) <= schema.get("maxItems", len(value)),
            not schema.get("uniqueItems") or len({json.dumps(v) for v in value}) == len(value),
            "items" not in schema or all(valid(v, schema["items"], root) for v in value),
        ]
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        checks += [
            all(key in value for key in schema.get("required", [])),
            schema.get("additionalProperties", True) or set(value) <= set(properties),
            all(valid(v, properties[k], root) for k, v in value.items() if k in properties),
        ]
    return all(checks)


def schema_conforms(document: Any) -> bool:
    """Whether a document conforms to `dsl.json_schema()`."""
    schema = dsl.json_schema()
    return valid(document, schema, schema)


@pytest.fixture(scope="session")
def conforms() -> Callable[[Any], bool]:
    """The JSON Schema check of a document."""
    return schema_conforms
