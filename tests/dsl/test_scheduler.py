"""`dsl.Scheduler`: which steps start, which are skipped, when an execution is finished."""

from __future__ import annotations

import time
from typing import Any

import pytest

import dsl

RUNNING = dsl.StepState("running")
FAILED = dsl.StepState("failed", error="boom")
SKIPPED = dsl.StepState("skipped")


def done(text: str = "ok") -> dsl.StepState:
    return dsl.StepState("completed", dsl.parse_result(text))


def scheduler(kind: str, *agents: dict[str, Any], **top: Any) -> dsl.Scheduler:
    return dsl.Scheduler(dsl.compile(dsl.load({"type": kind, "agents": list(agents), **top})))


def decide(s: dsl.Scheduler, prompt: str = "hello", **state: dsl.StepState) -> dsl.Decision:
    return s.decide(state, initial_prompt=prompt)


def needs(ref: str) -> dict[str, str]:
    return {"source": "agent_result", "agent_id": ref}


def category_is(value: str) -> list[dict[str, Any]]:
    return [{"field": "agent_classifier_result.category", "operator": "equals", "value": value}]


SEQUENTIAL = scheduler(
    "sequential",
    {"agent_id": "a"},
    {"agent_id": "b", "on_failure": "continue"},
    {"agent_id": "c", "input": needs("b")},
    {"agent_id": "d"},
)


def test_sequential_runs_one_step_after_the_other() -> None:
    assert decide(SEQUENTIAL) == dsl.Decision(start=("a",))
    assert decide(SEQUENTIAL, a=RUNNING) == dsl.Decision()
    assert decide(SEQUENTIAL, a=done()) == dsl.Decision(start=("b",))
    assert decide(SEQUENTIAL, a=done(), b=done()) == dsl.Decision(start=("c",))
    final = decide(SEQUENTIAL, a=done(), b=done(), c=done(), d=done())
    assert final == dsl.Decision(finished=True, status="completed")


def test_continue_skips_only_the_steps_that_need_the_result() -> None:
    decision = decide(SEQUENTIAL, a=done(), b=FAILED)
    assert decision == dsl.Decision(start=("d",), skip=(("c", "input_missing"),))
    assert decide(SEQUENTIAL, a=done(), b=FAILED, c=SKIPPED, d=done()) == dsl.Decision(
        finished=True, status="completed"
    )


def test_fail_ends_the_execution_and_cancels_running_siblings() -> None:
    s = scheduler(
        "parallel", {"agent_id": "a"}, {"agent_id": "b"}, {"agent_id": "c"}, max_concurrency=2
    )
    assert decide(s) == dsl.Decision(start=("a", "b"))
    decision = decide(s, a=FAILED, b=RUNNING)
    assert decision == dsl.Decision(
        skip=(("c", "execution_failed"),), cancel=("b",), finished=True, status="failed"
    )
    assert decide(s, a=FAILED, b=dsl.StepState("cancelled"), c=SKIPPED) == dsl.Decision(
        finished=True, status="failed"
    )


def test_parallel_respects_max_concurrency() -> None:
    s = scheduler("parallel", *({"agent_id": f"s{i}"} for i in range(5)), max_concurrency=3)
    assert decide(s).start == ("s0", "s1", "s2")
    assert decide(s, s0=RUNNING, s1=done(), s2=RUNNING).start == ("s3",)
    assert decide(s, s0=RUNNING, s1=RUNNING, s2=RUNNING).start == ()


def test_conditions_on_the_prompt_gate_a_parallel_step() -> None:
    s = scheduler(
        "parallel",
        {"agent_id": "a"},
        {
            "agent_id": "b",
            "conditions": [{"field": "initial_prompt", "operator": "contains", "value": "urgent"}],
        },
    )
    assert decide(s, "urgent please") == dsl.Decision(start=("a", "b"))
    assert decide(s, "whenever") == dsl.Decision(start=("a",), skip=(("b", "condition_false"),))


DAG = scheduler(
    "dag",
    {"agent_id": "a", "on_failure": "continue"},
    {"agent_id": "b", "input": needs("a"), "on_failure": "continue"},
    {"agent_id": "c", "input": needs("b")},
    {"agent_id": "d", "depends_on": ["a"]},
    {"agent_id": "e", "depends_on": ["c", "d"]},
)


def test_dag_skips_cascade_and_ordering_only_dependencies_still_run() -> None:
    decision = decide(DAG, a=FAILED)
    assert decision == dsl.Decision(
        start=("d",), skip=(("b", "input_missing"), ("c", "input_missing"))
    )
    assert decide(DAG, a=FAILED, b=SKIPPED, c=SKIPPED, d=done()).start == ("e",)


def test_dag_starts_a_step_as_soon_as_its_dependencies_settle() -> None:
    assert decide(DAG, a=done()) == dsl.Decision(start=("b", "d"))
    assert decide(DAG, a=done(), b=done(), d=RUNNING) == dsl.Decision(start=("c",))


SEED_CONDITIONAL = scheduler(
    "conditional",
    {"agent_id": "classifier", "input": {"source": "initial_prompt"}},
    {
        "agent_id": "technical_support",
        "conditions": category_is("technical"),
        "input": needs("classifier"),
    },
    {
        "agent_id": "billing_support",
        "conditions": category_is("billing"),
        "input": needs("classifier"),
    },
)


def test_conditional_routes_on_the_classifier_result() -> None:
    assert decide(SEED_CONDITIONAL) == dsl.Decision(start=("classifier",))
    decision = decide(SEED_CONDITIONAL, classifier=done('{"category": "technical"}'))
    assert decision == dsl.Decision(
        start=("technical_support",), skip=(("billing_support", "condition_false"),)
    )
    finished = decide(
        SEED_CONDITIONAL,
        classifier=done('{"category": "technical"}'),
        technical_support=done(),
        billing_support=SKIPPED,
    )
    assert finished == dsl.Decision(finished=True, status="completed")


def test_conditional_with_no_eligible_step_skips_the_rest_and_finishes() -> None:
    decision = decide(SEED_CONDITIONAL, classifier=done("I am not JSON"))
    assert decision == dsl.Decision(
        skip=(("technical_support", "condition_false"), ("billing_support", "condition_false")),
        finished=True,
        status="completed",
    )


ROUNDS = scheduler(
    "conditional",
    {"agent_id": "a"},
    {"agent_id": "b"},
    {"agent_id": "c"},
    {"agent_id": "after_a", "conditions": [{"field": "results.a", "operator": "exists"}]},
    {"agent_id": "after_b", "input": needs("b")},
    max_concurrency=2,
)


def test_conditional_waits_for_the_whole_round_before_the_next() -> None:
    assert decide(ROUNDS) == dsl.Decision(start=("a", "b"))
    # c belongs to round 1 and fills the free slot; after_a must wait for round 1 to end
    assert decide(ROUNDS, a=done(), b=RUNNING) == dsl.Decision(start=("c",))
    assert decide(ROUNDS, a=done(), b=done(), c=RUNNING) == dsl.Decision()
    assert decide(ROUNDS, a=done(), b=done(), c=done()) == dsl.Decision(
        start=("after_a", "after_b")
    )


def test_a_dag_does_not_wait_for_rounds() -> None:
    dag = scheduler(
        "dag", {"agent_id": "a"}, {"agent_id": "b"}, {"agent_id": "after_a", "input": needs("a")}
    )
    assert decide(dag, a=done(), b=RUNNING) == dsl.Decision(start=("after_a",))


def test_conditional_failure_with_continue_is_settled_and_skips_dependants() -> None:
    s = scheduler(
        "conditional",
        {"agent_id": "a", "on_failure": "continue"},
        {"agent_id": "b", "input": needs("a")},
        {"agent_id": "c", "conditions": [{"field": "results.a", "operator": "not_exists"}]},
    )
    assert decide(s, a=FAILED) == dsl.Decision(start=("c",), skip=(("b", "input_missing"),))


def test_negative_conditions_wait_for_what_they_read() -> None:
    # the seed would run a "not_exists" step in round 1, before the step it reads
    s = scheduler(
        "conditional",
        {"agent_id": "classifier"},
        {
            "agent_id": "general",
            "conditions": [
                {"field": "agent_classifier_result.category", "operator": "not_in", "value": ["x"]}
            ],
        },
    )
    assert decide(s) == dsl.Decision(start=("classifier",))
    assert decide(s, classifier=done('{"category": "y"}')) == dsl.Decision(start=("general",))


def test_decisions_are_a_pure_function_of_the_state() -> None:
    state = {"a": done(), "b": done(), "c": RUNNING}
    first = ROUNDS.decide(state, initial_prompt="p")
    fresh = dsl.Scheduler(dsl.Plan.from_dict(ROUNDS.plan.to_dict()))
    assert (
        fresh.decide(dict(state), initial_prompt="p")
        == first
        == ROUNDS.decide(state, initial_prompt="p")
    )


def test_a_started_step_is_not_judged_again() -> None:
    # the classifier's result changed meaning after tech started: tech keeps running
    state = {
        "classifier": done('{"category": "billing"}'),
        "technical_support": RUNNING,
        "billing_support": RUNNING,
    }
    assert SEED_CONDITIONAL.decide(state) == dsl.Decision()


def test_a_completed_step_without_a_recorded_result_counts_as_empty_text() -> None:
    s = scheduler(
        "sequential",
        {"agent_id": "a"},
        {
            "agent_id": "b",
            "input": needs("a"),
            "conditions": [{"field": "results.a", "operator": "equals", "value": ""}],
        },
    )
    assert decide(s, a=dsl.StepState("completed")) == dsl.Decision(start=("b",))


def test_a_cancelled_step_has_no_result() -> None:
    s = scheduler("dag", {"agent_id": "a"}, {"agent_id": "b", "input": needs("a")})
    decision = decide(s, a=dsl.StepState("cancelled"))
    assert decision == dsl.Decision(
        skip=(("b", "input_missing"),), finished=True, status="completed"
    )


def test_a_state_naming_an_unknown_step_is_refused() -> None:
    with pytest.raises(dsl.DslStateError):
        decide(SEQUENTIAL, zz=RUNNING)


@pytest.mark.parametrize("category", ["technical", "billing", "other", None])
def test_a_whole_run_of_the_seed_conditional(drive: Any, category: str | None) -> None:
    answer = "no idea" if category is None else f'{{"category": "{category}"}}'
    _, started, decision = drive(SEED_CONDITIONAL.plan, lambda step: done(answer))
    expected = ["classifier"] + (
        [f"{category}_support"] if category in ("technical", "billing") else []
    )
    assert started == expected
    assert decision.status == "completed"


CATASTROPHIC = {"field": "initial_prompt", "operator": "matches", "value": "(a|aa)+$"}
HOSTILE_PROMPT = "a" * 5_000 + "!"


def test_a_condition_too_costly_to_decide_fails_its_step_not_skips_it() -> None:
    s = scheduler(
        "parallel",
        {"agent_id": "guarded", "conditions": [{"not": CATASTROPHIC}], "on_failure": "continue"},
        {"agent_id": "plain"},
    )
    assert s.scans
    decision = decide(s, HOSTILE_PROMPT)
    assert [(u.step_id, u.condition, u.bound) for u in decision.fail] == [
        ("guarded", 0, "regex_timeout_s")
    ]
    assert "step guarded: condition 1" in decision.fail[0].message
    assert decision.skip == () and decision.start == ("plain",) and not decision.finished
    # recorded failed, it is settled like any failure: on_failure applies
    after = decide(s, HOSTILE_PROMPT, guarded=FAILED, plain=done())
    assert after == dsl.Decision(finished=True, status="completed")


def test_the_conditions_of_one_decision_share_one_budget() -> None:
    agents = [{"agent_id": f"s{i}", "conditions": [CATASTROPHIC]} for i in range(16)]
    s = scheduler("parallel", *agents)
    started = time.thread_time()
    decision = decide(s, HOSTILE_PROMPT)
    spent_s = time.thread_time() - started
    assert [u.step_id for u in decision.fail] == [f"s{i}" for i in range(16)]
    assert {u.bound for u in decision.fail} == {"regex_timeout_s", "condition_budget_s"}
    # 16 timeouts would be 0.32 s; the budget stops them after 0.05 s (and some slack)
    assert spent_s < dsl.LIMITS.condition_budget_s + dsl.LIMITS.regex_timeout_s + 0.05


def test_a_conditional_round_member_failed_now_is_one_when_replayed() -> None:
    s = scheduler(
        "conditional",
        {"agent_id": "a", "conditions": [CATASTROPHIC], "on_failure": "continue"},
        {"agent_id": "b"},
        {"agent_id": "after", "conditions": [{"field": "results.a", "operator": "not_exists"}]},
    )
    now = decide(s, HOSTILE_PROMPT)
    assert [u.step_id for u in now.fail] == ["a"] and now.start == ("b",)
    replayed = decide(s, HOSTILE_PROMPT, a=FAILED)
    assert replayed == dsl.Decision(start=("b",))  # after waits for round 1, as it did


def test_plans_without_scanning_conditions_are_cheap() -> None:
    assert not SEQUENTIAL.scans and not SEED_CONDITIONAL.scans and not ROUNDS.scans
