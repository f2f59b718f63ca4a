"""`dsl.evaluate`: every operator, groups, type mismatches, absent fields, bounded regexes."""

from __future__ import annotations

import time
from typing import Any

import pytest

import dsl
from dsl import LIMITS
from dsl.conditions import Budget

CONTEXT: dict[str, Any] = {
    "initial_prompt": "My invoice is wrong, URGENT",
    "agent_classifier_result": {"category": "billing", "score": 7, "tags": ["a", 1, True]},
    "results": {
        "classifier": {"category": "billing", "score": 7, "tags": ["a", 1, True], "none": None},
        "plain": "just text",
        "number": 2.5,
    },
}


def holds(field: str, operator: str, *value: Any) -> bool:
    condition = {"field": field, "operator": operator, **({"value": value[0]} if value else {})}
    return dsl.evaluate(condition, CONTEXT)


@pytest.mark.parametrize(
    ("field", "operator", "value", "expected"),
    [
        ("results.classifier.category", "equals", "billing", True),
        ("results.classifier.category", "equals", "Billing", False),
        ("results.classifier.score", "equals", 7.0, True),
        ("results.classifier.tags.2", "equals", 1, False),
        ("results.classifier.tags.2", "equals", True, True),
        ("results.classifier.none", "equals", None, True),
        ("results.classifier.missing", "equals", None, False),
        ("results.classifier.category", "not_equals", "technical", True),
        ("results.classifier.missing", "not_equals", "technical", True),
        ("initial_prompt", "contains", "invoice", True),
        ("initial_prompt", "contains", "refund", False),
        ("results.classifier.tags", "contains", "a", True),
        ("results.classifier.tags", "contains", 1, True),
        ("results.classifier", "contains", "score", True),
        ("results.classifier.score", "contains", "7", False),
        ("initial_prompt", "not_contains", "refund", True),
        ("results.classifier.tags", "not_contains", "b", True),
        ("results.classifier.category", "in", ["billing", "technical"], True),
        ("results.classifier.score", "in", ["7", 8], False),
        ("results.classifier.category", "not_in", ["technical"], True),
        ("results.classifier.missing", "not_in", ["technical"], True),
        ("results.classifier.missing", "in", ["technical"], False),
        ("results.classifier.score", "gt", 6, True),
        ("results.classifier.score", "gt", 7, False),
        ("results.classifier.score", "gte", 7, True),
        ("results.classifier.score", "lt", 7.5, True),
        ("results.classifier.score", "lte", 6.9, False),
        ("results.number", "lte", 2.5, True),
        ("results.classifier.category", "gt", 1, False),
        ("results.classifier.tags.2", "gt", 0, False),
        ("results.classifier.missing", "lt", 1, False),
        ("initial_prompt", "matches", "(?i)urgent", True),
        ("initial_prompt", "matches", "^urgent", False),
        ("results.classifier.score", "matches", "7", False),
    ],
)
def test_operator(field: str, operator: str, value: Any, expected: bool) -> None:
    assert holds(field, operator, value) is expected


@pytest.mark.parametrize(
    ("field", "operator", "expected"),
    [
        ("results.classifier.category", "exists", True),
        ("results.classifier.none", "exists", False),
        ("results.classifier.missing", "exists", False),
        ("results.plain.category", "exists", False),
        ("results.classifier.tags.9", "exists", False),
        ("results.nobody", "exists", False),
        ("results.classifier.missing", "not_exists", True),
        ("results.classifier.category", "not_exists", False),
    ],
)
def test_existence(field: str, operator: str, expected: bool) -> None:
    assert holds(field, operator) is expected


def test_seed_fields_read_their_context_key() -> None:
    assert holds("agent_classifier_result.category", "equals", "billing")
    assert holds("agent_classifier_result.tags.0", "equals", "a")
    assert not holds("agent_other_result.category", "exists")


def test_groups() -> None:
    yes = {"field": "results.classifier.score", "operator": "gt", "value": 1}
    no = {"field": "results.classifier.score", "operator": "gt", "value": 100}
    assert dsl.evaluate({"all": [yes, yes]}, CONTEXT)
    assert not dsl.evaluate({"all": [yes, no]}, CONTEXT)
    assert dsl.evaluate({"any": [no, yes]}, CONTEXT)
    assert not dsl.evaluate({"any": [no, no]}, CONTEXT)
    assert dsl.evaluate({"not": no}, CONTEXT)
    assert not dsl.evaluate({"not": {"any": [yes]}}, CONTEXT)


def test_compiled_conditions_read_results_by_step_id() -> None:
    workflow = dsl.load(
        {
            "type": "conditional",
            "agents": [
                {"agent_id": "classifier"},
                {
                    "agent_id": "billing",
                    "conditions": [
                        {
                            "field": "agent_classifier_result.category",
                            "operator": "equals",
                            "value": "billing",
                        }
                    ],
                },
            ],
        }
    )
    condition = workflow.steps[1].conditions[0]
    assert dsl.evaluate(condition, {"results": {"classifier": {"category": "billing"}}})
    assert not dsl.evaluate(condition, {"results": {}})
    assert not dsl.evaluate(condition, {})


def test_invalid_raw_conditions_raise_validation_errors() -> None:
    with pytest.raises(dsl.DslValidationError) as caught:
        dsl.evaluate({"field": "x", "operator": "gt", "value": "a"}, CONTEXT)
    assert {p.code for p in caught.value.problems} == {"invalid_field", "operator_value_mismatch"}


def test_run_time_surprises_are_false_never_exceptions() -> None:
    odd_context: dict[str, Any] = {"results": {"s": {"k": object(), "n": float("nan")}}}
    for operator, value in [("gt", 1), ("contains", "x"), ("equals", 1), ("matches", "x")]:
        condition = {"field": "results.s.k", "operator": operator, "value": value}
        assert dsl.evaluate(condition, odd_context) is False
    assert not dsl.evaluate({"field": "results.s.n", "operator": "gt", "value": 1}, odd_context)


def test_a_catastrophic_pattern_is_too_costly_and_says_so_quickly() -> None:
    context = {"initial_prompt": "a" * 5_000 + "!"}
    for pattern in ["(a+)+$", "(a|aa)+$", "^(\\w+\\s?)*$"]:
        leaf = {"field": "initial_prompt", "operator": "matches", "value": pattern}
        for condition in (leaf, {"not": leaf}):  # neither true nor false
            started = time.perf_counter()
            with pytest.raises(dsl.DslCostError) as caught:
                dsl.evaluate(condition, context)
            elapsed = time.perf_counter() - started
            assert caught.value.bound == "regex_timeout_s"
            assert "initial_prompt" in str(caught.value)
            assert elapsed < 0.5, (pattern, elapsed)


@pytest.mark.parametrize(
    ("operator", "value", "bound"),
    [
        ("matches", "x" * (LIMITS.max_match_subject_chars + 1), "max_match_subject_chars"),
        ("contains", "x" * (LIMITS.max_condition_chars + 1), "max_condition_chars"),
        ("not_contains", "x" * (LIMITS.max_condition_chars + 1), "max_condition_chars"),
        ("contains", ["x"] * (LIMITS.max_condition_items + 1), "max_condition_items"),
    ],
)
def test_a_field_over_its_size_bound_is_too_costly(operator: str, value: Any, bound: str) -> None:
    context = {"results": {"s": {"big": value}}}
    with pytest.raises(dsl.DslCostError) as caught:
        dsl.evaluate({"field": "results.s.big", "operator": operator, "value": "y"}, context)
    assert caught.value.bound == bound
    assert f"{len(value):,}" in str(caught.value)


def test_a_field_at_its_size_bound_is_evaluated() -> None:
    context = {"results": {"s": {"big": "x" * LIMITS.max_condition_chars}}}
    assert dsl.evaluate({"field": "results.s.big", "operator": "contains", "value": "xx"}, context)
    assert dsl.evaluate({"field": "results.s.big", "operator": "exists"}, context)


def test_a_spent_budget_stops_the_evaluations_that_share_it() -> None:
    budget = Budget(0.03)
    condition = {"field": "initial_prompt", "operator": "matches", "value": "(a|aa)+$"}
    context = {"initial_prompt": "a" * 5_000 + "!"}
    bounds = []
    for _ in range(4):
        with pytest.raises(dsl.DslCostError) as caught:
            dsl.evaluate(condition, context, budget)
        bounds.append(caught.value.bound)
    assert bounds[0] == "regex_timeout_s"
    assert bounds[-1] == "condition_budget_s"
    with pytest.raises(dsl.DslCostError):  # even a cheap scan, once the budget is spent
        dsl.evaluate({"field": "initial_prompt", "operator": "contains", "value": "a"}, context,
                     budget)  # fmt: skip


def test_the_pattern_really_is_catastrophic_so_the_bound_is_what_saves_us() -> None:
    import regex  # type: ignore[import-untyped, unused-ignore]

    with pytest.raises(TimeoutError):
        regex.search("(a|aa)+$", "a" * 5_000 + "!", timeout=0.05)
