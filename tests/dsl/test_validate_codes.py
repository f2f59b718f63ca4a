"""`dsl.load`: every validation code, each with the JSON-pointer path it reports."""

from __future__ import annotations

from typing import Any

import pytest

import dsl
from dsl import LIMITS
from tests.dsl.documents import cond, problems, step, workflow

DEEP: dict[str, Any] = cond("initial_prompt", "exists")
for _ in range(LIMITS.max_condition_depth):
    DEEP = {"not": DEEP}

CASES: list[tuple[str, object, tuple[str, str]]] = [
    ("bad json", "{nope", ("invalid_json", "")),
    ("nested json", "[" * 100_000, ("invalid_json", "")),
    ("nan", '{"agents": [NaN]}', ("invalid_json", "")),
    ("too large", " " * (LIMITS.max_document_chars + 1), ("too_large", "")),
    ("not an object", [1], ("wrong_type", "")),
    ("agents not array", {"agents": {}}, ("wrong_type", "/agents")),
    ("step not object", workflow(step("a"), 3), ("wrong_type", "/agents/1")),
    ("input not object", workflow(step("a", input="x")), ("wrong_type", "/agents/0/input")),
    ("number is bool", workflow(step("a", timeout_s=True)), ("wrong_type", "/agents/0/timeout_s")),
    ("integer", workflow(step("a"), max_concurrency=1.5), ("wrong_type", "/max_concurrency")),
    ("unknown top", workflow(step("a"), steps=[]), ("unknown_field", "/steps")),
    (
        "unknown input",
        workflow(step("a", input={"source": "initial_prompt", "x": 1})),
        ("unknown_field", "/agents/0/input/x"),
    ),
    (
        "unknown retry",
        workflow(step("a", retry={"tries": 2})),
        ("unknown_field", "/agents/0/retry/tries"),
    ),
    ("no agents", {"type": "dag"}, ("missing_field", "/agents")),
    ("no agent_id", workflow({"id": "a"}), ("missing_field", "/agents/0/agent_id")),
    ("no source", workflow(step("a", input={})), ("missing_field", "/agents/0/input/source")),
    (
        "no operator",
        workflow(step("a", conditions=[{"field": "initial_prompt"}])),
        ("missing_field", "/agents/0/conditions/0/operator"),
    ),
    (
        "no value",
        workflow(step("a", conditions=[cond("initial_prompt", "equals")])),
        ("missing_field", "/agents/0/conditions/0/value"),
    ),
    (
        "no ref",
        workflow(step("a", input={"source": "agent_result"})),
        ("missing_field", "/agents/0/input/agent_id"),
    ),
    (
        "no id for shared agent",
        workflow({"agent_id": "w"}, {"agent_id": "w", "role": "x y"}),
        ("missing_field", "/agents/0/id"),
    ),
    ("bad type", workflow(step("a"), kind="loop"), ("invalid_value", "/type")),
    (
        "bad source",
        workflow(step("a", input={"source": "web"})),
        ("invalid_value", "/agents/0/input/source"),
    ),
    ("blank role", workflow(step("a", role="  ")), ("invalid_value", "/agents/0/role")),
    ("agent id", workflow(step("a", agent_id="a b")), ("invalid_format", "/agents/0/agent_id")),
    ("step id", workflow(step("a.b")), ("invalid_format", "/agents/0/id")),
    (
        "key name",
        workflow(step("a", requires_keys=["OpenAI"])),
        ("invalid_format", "/agents/0/requires_keys/0"),
    ),
    ("budget text", workflow(step("a"), budget_usd="1,5"), ("invalid_format", "/budget_usd")),
    ("timeout", workflow(step("a", timeout_s=0)), ("out_of_range", "/agents/0/timeout_s")),
    ("concurrency", workflow(step("a"), max_concurrency=0), ("out_of_range", "/max_concurrency")),
    ("budget", workflow(step("a"), budget_usd=-1), ("out_of_range", "/budget_usd")),
    (
        "attempts",
        workflow(step("a", retry={"max_attempts": 11})),
        ("out_of_range", "/agents/0/retry/max_attempts"),
    ),
    (
        "backoff",
        workflow(step("a", retry={"backoff_s": 9, "max_backoff_s": 1})),
        ("out_of_range", "/agents/0/retry/max_backoff_s"),
    ),
    ("long role", workflow(step("a", role="r" * 2001)), ("too_long", "/agents/0/role")),
    (
        "long pattern",
        workflow(step("a", conditions=[cond("initial_prompt", "matches", "a" * 257)])),
        ("too_long", "/agents/0/conditions/0/value"),
    ),
    (
        "many values",
        workflow(step("a", conditions=[cond("initial_prompt", "in", list(range(101)))])),
        ("too_many_items", "/agents/0/conditions/0/value"),
    ),
    (
        "many placeholders",
        workflow(step("a", input={"source": "template", "template": "{{initial_prompt}}" * 101})),
        ("too_many_items", "/agents/0/input/template"),
    ),
    (
        "no sources",
        workflow(step("a", input={"source": "combined", "sources": []})),
        ("empty_list", "/agents/0/input/sources"),
    ),
    (
        "empty group",
        workflow(step("a", conditions=[{"all": []}])),
        ("empty_list", "/agents/0/conditions/0/all"),
    ),
    ("empty workflow", {"agents": []}, ("empty_workflow", "/agents")),
    (
        "too many steps",
        {"agents": [step(f"s{i}") for i in range(201)]},
        ("too_many_steps", "/agents"),
    ),
    (
        "duplicate id",
        workflow(step("a"), step("a", agent_id="b")),
        ("duplicate_id", "/agents/1/id"),
    ),
    (
        "duplicate default id",
        workflow(step("a"), {"agent_id": "a", "id": "b"}, {"agent_id": "b"}),
        ("duplicate_id", "/agents/2/agent_id"),
    ),
    (
        "duplicate dep",
        workflow(step("a"), step("b", depends_on=["a", "a"])),
        ("duplicate_item", "/agents/1/depends_on/1"),
    ),
    (
        "duplicate key",
        workflow(step("a", requires_keys=["x", "x"])),
        ("duplicate_item", "/agents/0/requires_keys/1"),
    ),
    (
        "unknown input ref",
        workflow(step("a", input={"source": "agent_result", "agent_id": "z"})),
        ("unknown_ref", "/agents/0/input/agent_id"),
    ),
    (
        "unknown dep",
        workflow(step("a", depends_on=["z"])),
        ("unknown_ref", "/agents/0/depends_on/0"),
    ),
    (
        "unknown field ref",
        workflow(step("a", conditions=[cond("results.z.k", "exists")])),
        ("unknown_ref", "/agents/0/conditions/0/field"),
    ),
    (
        "unknown placeholder ref",
        workflow(step("a", input={"source": "template", "template": "{{results.z}}"})),
        ("unknown_ref", "/agents/0/input/template"),
    ),
    (
        "ambiguous",
        workflow(step("a", agent_id="w"), step("b", agent_id="w"), step("c", depends_on=["w"])),
        ("ambiguous_ref", "/agents/2/depends_on/0"),
    ),
    (
        "self",
        workflow(step("a", conditions=[cond("results.a", "exists")])),
        ("ref_not_before", "/agents/0/conditions/0/field"),
    ),
    (
        "self dep",
        workflow(step("a", depends_on=["a"])),
        ("ref_not_before", "/agents/0/depends_on/0"),
    ),
    (
        "later in sequence",
        workflow(
            step("a", input={"source": "agent_result", "agent_id": "b"}),
            step("b"),
            kind="sequential",
        ),
        ("ref_not_before", "/agents/0/input/agent_id"),
    ),
    (
        "parallel read",
        workflow(
            step("a"), step("b", input={"source": "agent_result", "agent_id": "a"}), kind="parallel"
        ),
        ("ref_not_before", "/agents/1/input/agent_id"),
    ),
    (
        "cycle",
        workflow(step("a", depends_on=["b"]), step("b", depends_on=["a"])),
        ("cycle", "/agents/0"),
    ),
    (
        "conditional cycle",
        workflow(
            step("a", conditions=[cond("results.b.x", "exists")]),
            step("b", input={"source": "agent_result", "agent_id": "a"}),
            kind="conditional",
        ),
        ("cycle", "/agents/0"),
    ),
    (
        "depends_on outside dag",
        workflow(step("a"), step("b", depends_on=["a"]), kind="parallel"),
        ("field_not_allowed", "/agents/1/depends_on"),
    ),
    (
        "both refs",
        workflow(
            step("a"), step("b", input={"source": "agent_result", "agent_id": "a", "step": "a"})
        ),
        ("conflicting_fields", "/agents/1/input/agent_id"),
    ),
    (
        "two groups",
        workflow(step("a", conditions=[{"all": [], "any": []}])),
        ("conflicting_fields", "/agents/0/conditions/0"),
    ),
    (
        "group and leaf",
        workflow(step("a", conditions=[{"not": {}, "field": "initial_prompt"}])),
        ("conflicting_fields", "/agents/0/conditions/0"),
    ),
    (
        "operator",
        workflow(step("a", conditions=[cond("initial_prompt", "like", "x")])),
        ("unknown_operator", "/agents/0/conditions/0/operator"),
    ),
    (
        "gt string",
        workflow(step("a", conditions=[cond("initial_prompt", "gt", "3")])),
        ("operator_value_mismatch", "/agents/0/conditions/0/value"),
    ),
    (
        "gt bool",
        workflow(step("a", conditions=[cond("initial_prompt", "lte", True)])),
        ("operator_value_mismatch", "/agents/0/conditions/0/value"),
    ),
    (
        "in scalar",
        workflow(step("a", conditions=[cond("initial_prompt", "in", "abc")])),
        ("operator_value_mismatch", "/agents/0/conditions/0/value"),
    ),
    (
        "in nested",
        workflow(step("a", conditions=[cond("initial_prompt", "not_in", [[1]])])),
        ("operator_value_mismatch", "/agents/0/conditions/0/value/0"),
    ),
    (
        "exists value",
        workflow(step("a", conditions=[cond("initial_prompt", "exists", 1)])),
        ("operator_value_mismatch", "/agents/0/conditions/0/value"),
    ),
    (
        "matches number",
        workflow(step("a", conditions=[cond("initial_prompt", "matches", 1)])),
        ("operator_value_mismatch", "/agents/0/conditions/0/value"),
    ),
    (
        "equals object",
        workflow(step("a", conditions=[cond("initial_prompt", "equals", {})])),
        ("operator_value_mismatch", "/agents/0/conditions/0/value"),
    ),
    (
        "field",
        workflow(step("a", conditions=[cond("foo.bar", "exists")])),
        ("invalid_field", "/agents/0/conditions/0/field"),
    ),
    (
        "prompt path",
        workflow(step("a", conditions=[cond("initial_prompt.x", "exists")])),
        ("invalid_field", "/agents/0/conditions/0/field"),
    ),
    (
        "regex",
        workflow(step("a", conditions=[cond("initial_prompt", "matches", "(")])),
        ("invalid_regex", "/agents/0/conditions/0/value"),
    ),
    (
        "regex repeat",
        workflow(step("a", conditions=[cond("initial_prompt", "matches", "(?:a{100}){100}")])),
        ("regex_too_complex", "/agents/0/conditions/0/value"),
    ),
    (
        "deep",
        workflow(step("a", conditions=[DEEP])),
        ("too_deep", "/agents/0/conditions/0" + "/not" * LIMITS.max_condition_depth),
    ),
    (
        "many conditions",
        workflow(step("a", conditions=[{"all": [cond("initial_prompt", "exists")] * 64}])),
        ("too_many_conditions", "/agents/0/conditions/0/all/63"),
    ),
    (
        "many regexes",
        workflow(
            *[
                step(f"s{i}", conditions=[cond("initial_prompt", "matches", "x")])
                for i in range(LIMITS.max_regexes + 1)
            ]
        ),
        ("too_many_regexes", f"/agents/{LIMITS.max_regexes}/conditions/0/value"),
    ),
    (
        "placeholder",
        workflow(step("a", input={"source": "template", "template": "{{ foo }}"})),
        ("unknown_placeholder", "/agents/0/input/template"),
    ),
    (
        "bare results",
        workflow(step("a", input={"source": "template", "template": "{{results}}"})),
        ("unknown_placeholder", "/agents/0/input/template"),
    ),
]


@pytest.mark.parametrize(
    ("document", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_validation_code_and_path(document: object, expected: tuple[str, str]) -> None:
    assert expected in problems(document)


def test_every_documented_code_is_exercised() -> None:
    validate_doc = dsl.validate.__doc__ or ""
    documented = {word.strip("`,.") for word in validate_doc.split() if word.startswith("`")}
    documented = {code for code in documented if code.islower() and "_" in code}
    exercised = {expected[0] for _, _, expected in CASES} | {"too_many_problems"}
    assert documented - exercised == {"internal_error"}


def test_problems_are_capped() -> None:
    found = problems({"agents": [step(f"s{i}", a=1, b=2, c=3) for i in range(200)]})
    assert len(found) == LIMITS.max_problems + 1
    assert found[-1] == ("too_many_problems", "")


def test_an_internal_bug_is_still_a_validation_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object) -> None:
        raise KeyError("boom")

    monkeypatch.setattr(dsl.validate, "read_heads", broken)
    assert problems({"agents": [step("a")]}) == [("internal_error", "")]
