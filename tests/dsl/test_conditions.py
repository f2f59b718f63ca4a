"""`dsl.evaluate`: every operator, groups, type mismatches, absent fields, bounded regexes."""

from __future__ import annotations

import time
from typing import Any

import pytest

import dsl
from dsl import LIMITS

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


def test_a_catastrophic_pattern_returns_quickly() -> None:
    context = {"initial_prompt": "a" * 5_000 + "!"}
    for pattern in ["(a+)+$", "(a|aa)+$", "(a|a)*b", "^(\\w+\\s?)*$"]:
        started = time.perf_counter()
        result = dsl.evaluate(
            {"field": "initial_prompt", "operator": "matches", "value": pattern}, context
        )
        elapsed = time.perf_counter() - started
        assert result is False
        assert elapsed < 0.5, (pattern, elapsed)


def test_an_over_long_subject_never_matches() -> None:
    context = {"initial_prompt": "x" * (LIMITS.max_match_subject_chars + 1)}
    assert not dsl.evaluate(
        {"field": "initial_prompt", "operator": "matches", "value": "x"}, context
    )


def test_the_pattern_really_is_catastrophic_so_the_bound_is_what_saves_us() -> None:
    import regex  # type: ignore[import-untyped, unused-ignore]

    with pytest.raises(TimeoutError):
        regex.search("(a|aa)+$", "a" * 5_000 + "!", timeout=0.05)
