"""`dsl.load`: what it accepts, and every validation code with its JSON-pointer path."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

import dsl
from tests.dsl.documents import cond, problems, step, workflow

SEED = {
    "type": "sequential",
    "agents": [
        {"agent_id": "agent-123", "role": "researcher", "input": {"source": "initial_prompt"}},
        {
            "agent_id": "agent-456",
            "role": "analyst",
            "input": {"source": "agent_result", "agent_id": "agent-123"},
        },
        {
            "agent_id": "agent-789",
            "role": "writer",
            "input": {
                "source": "combined",
                "sources": [
                    {"type": "agent_result", "agent_id": "agent-123"},
                    {"type": "agent_result", "agent_id": "agent-456"},
                ],
            },
        },
    ],
}


def test_the_seed_format_is_accepted_verbatim_as_object_and_as_text() -> None:
    parsed = dsl.load(SEED)
    assert parsed == dsl.load(json.dumps(SEED))
    assert [s.id for s in parsed.steps] == ["agent-123", "agent-456", "agent-789"]
    assert parsed.steps[1].input == dsl.ResultInput("agent-123")
    assert parsed.steps[2].input == dsl.CombinedInput(
        (dsl.CombinedSource("agent-123", "researcher"), dsl.CombinedSource("agent-456", "analyst"))
    )


def test_defaults_come_from_the_options_module() -> None:
    parsed = dsl.load({"agents": [{"agent_id": "a"}]})
    assert parsed.type == "sequential"
    assert parsed.options == dsl.WorkflowOptions()
    only = parsed.steps[0]
    assert (only.role, only.input, only.options) == ("a", dsl.PromptInput(), dsl.StepOptions())


def test_options_are_read() -> None:
    document = workflow(
        step(
            "a",
            model="gpt-x",
            timeout_s=30,
            retry={"max_attempts": 3, "backoff_s": 0.5},
            on_failure="continue",
            requires_keys=["openai", "tavily"],
        ),
        max_concurrency=2,
        timeout_s=90,
        budget_usd="0.10",
        name="n",
        description="d",
    )
    parsed = dsl.load(document)
    assert parsed.options == dsl.WorkflowOptions(2, 90.0, Decimal("0.10"))
    assert (parsed.name, parsed.description) == ("n", "d")
    assert parsed.steps[0].options == dsl.StepOptions(
        "gpt-x", 30.0, dsl.RetryPolicy(3, 0.5, 60.0), "continue", ("openai", "tavily")
    )


def test_a_workflow_model_is_the_model_of_steps_that_name_none() -> None:
    parsed = dsl.load(workflow(step("a"), step("b", model="openai/gpt-5", timeout_s=5),
                               step("c", timeout_s=5), model="anthropic/claude-sonnet-4"))
    models = [s.options.model for s in parsed.steps]
    assert models == ["anthropic/claude-sonnet-4", "openai/gpt-5", "anthropic/claude-sonnet-4"]
    assert dsl.load(workflow(step("a"), model=None)).steps[0].options.model is None
    assert problems(workflow(step("a"), model=3)) == [("wrong_type", "/model")]
    plan = dsl.compile(dsl.load(workflow(step("a"), model="m")))
    assert dsl.Plan.from_dict(plan.to_dict()).steps[0].options.model == "m"


@pytest.mark.parametrize(
    ("given", "kept"),
    [("12.50", Decimal("12.50")), (0.1, Decimal("0.1")), (5, Decimal(5)), (None, None)],
)
def test_budget_is_kept_as_decimal(given: object, kept: Decimal | None) -> None:
    parsed = dsl.load(workflow(step("a"), budget_usd=given))
    assert parsed.options.budget_usd == kept
    assert isinstance(parsed.options.budget_usd, Decimal | None)


def test_ids_default_to_agent_id_then_role_and_refs_accept_both() -> None:
    parsed = dsl.load(
        workflow(
            {"agent_id": "writer", "role": "draft"},
            {
                "agent_id": "writer",
                "role": "final",
                "input": {"source": "agent_result", "step": "draft"},
            },
            {"agent_id": "critic", "input": {"source": "agent_result", "agent_id": "final"}},
            {"agent_id": "editor", "input": {"source": "agent_result", "agent_id": "critic"}},
            kind="sequential",
        )
    )
    assert [s.id for s in parsed.steps] == ["draft", "final", "critic", "editor"]
    assert parsed.steps[3].input == dsl.ResultInput("critic")


def test_templates_become_parts() -> None:
    parsed = dsl.load(
        workflow(
            step("a"),
            step(
                "b",
                input={
                    "source": "template",
                    "template": "Q: {{ initial_prompt }} / {{results.a}} / "
                    "{{agent_a_result.items.0}} {x} }}",
                },
            ),
        )
    )
    assert parsed.steps[1].input == dsl.TemplateInput(
        (
            dsl.TemplatePart(text="Q: "),
            dsl.TemplatePart(path=("initial_prompt",)),
            dsl.TemplatePart(text=" / "),
            dsl.TemplatePart(path=("results", "a")),
            dsl.TemplatePart(text=" / "),
            dsl.TemplatePart(path=("results", "a", "items", "0")),
            dsl.TemplatePart(text=" {x} }}"),
        )
    )


def test_seed_fields_resolve_agent_ids_with_hyphens_and_underscores() -> None:
    parsed = dsl.load(
        workflow(
            step("c", agent_id="agent_x-1_result"),
            step("d", conditions=[cond("agent_agent_x-1_result_result.category", "exists")]),
            kind="conditional",
        )
    )
    leaf = parsed.steps[1].conditions[0]
    assert isinstance(leaf, dsl.Compare)
    assert leaf.path == ("results", "c", "category")


def test_every_problem_is_reported_at_once_sorted_by_path() -> None:
    found = problems(
        workflow(
            step("a", foo=1),
            step("b", input={"source": "agent_result", "agent_id": "zz"}),
            step("c", conditions=[cond("results.a.x", "gt", "3")], on_failure="maybe"),
            kind="weird",
            extra=True,
        )
    )
    assert found == [
        ("unknown_field", "/agents/0/foo"),
        ("unknown_ref", "/agents/1/input/agent_id"),
        ("operator_value_mismatch", "/agents/2/conditions/0/value"),
        ("invalid_value", "/agents/2/on_failure"),
        ("unknown_field", "/extra"),
        ("invalid_value", "/type"),
    ]


def test_problems_render_as_json() -> None:
    with pytest.raises(dsl.DslValidationError) as caught:
        dsl.load({"agents": [], "a/b~": 1})
    assert [p.to_dict() for p in caught.value.problems] == [
        {
            "code": "empty_workflow",
            "path": "/agents",
            "message": "a workflow needs at least one step",
        },
        {"code": "unknown_field", "path": "/a~1b~0", "message": "unknown field 'a/b~'"},
    ]
    assert "2 problems" in str(caught.value)
