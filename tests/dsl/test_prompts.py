"""`parse_result`, `build_context` and `render_prompt`."""

from __future__ import annotations

import json
from typing import Any

import pytest

import dsl


@pytest.mark.parametrize(
    ("text", "data"),
    [
        ('{"category": "billing"}', {"category": "billing"}),
        ("  \n[1, 2]\n", [1, 2]),
        ("42", 42),
        ("null", None),
        (
            'Sure!\n```json\n{"category": "technical"}\n```\nAnything else?',
            {"category": "technical"},
        ),
        ('```JSON\n{"a": 1}```', {"a": 1}),
    ],
)
def test_parse_result_keeps_json(text: str, data: Any) -> None:
    result = dsl.parse_result(text)
    assert (result.text, result.data, result.has_data, result.value) == (text, data, True, data)


@pytest.mark.parametrize(
    "text",
    [
        "plain answer",
        "",
        '{"broken": ',
        "NaN",
        '{"a": Infinity}',
        '```json\n{"a": 1}\n```\n```json\n{"b": 2}\n```',
        '```python\n{"a": 1}\n```',
        "```json\nnot json\n```",
        "[" * 50_000,
    ],
)
def test_parse_result_without_json(text: str) -> None:
    result = dsl.parse_result(text)
    assert (result.text, result.has_data, result.value) == (text, False, text)


def test_step_result_round_trips() -> None:
    result = dsl.parse_result('{"a": [1, 2]}')
    assert dsl.StepResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result


TEMPLATE = (
    "Brief: {{initial_prompt}}\nKind: {{results.classifier.category}}\n"
    "Tags: {{results.classifier.tags}}\nMissing: [{{results.classifier.nope}}]\n"
    "Draft: {{results.draft}}\nTriage: {{results.classifier}}"
)
PLAN = dsl.compile(
    dsl.load(
        {
            "type": "dag",
            "agents": [
                {"agent_id": "classifier", "role": "triage"},
                {"id": "research", "agent_id": "researcher", "role": "researcher"},
                {
                    "agent_id": "writer",
                    "role": "draft",
                    "depends_on": ["classifier", "research"],
                    "input": {
                        "source": "combined",
                        "sources": [
                            {"type": "initial_prompt"},
                            {"type": "agent_result", "agent_id": "classifier"},
                            {"type": "agent_result", "agent_id": "researcher"},
                        ],
                    },
                },
                {
                    "agent_id": "writer",
                    "role": "final",
                    "input": {"source": "agent_result", "step": "draft"},
                },
                {
                    "agent_id": "editor",
                    "input": {
                        "source": "template",
                        "template": TEMPLATE,
                    },
                },
            ],
        }
    )
)
RESULTS = {
    "classifier": dsl.parse_result('Here:\n```json\n{"category": "tech", "tags": ["x", 2]}\n```'),
    "research": dsl.parse_result("Findings."),
    "draft": dsl.parse_result("Draft text."),
}


def test_build_context_has_the_seed_keys_and_is_plain_json() -> None:
    context = dsl.build_context(PLAN, "Write it", RESULTS)
    assert json.loads(json.dumps(context)) == context
    assert context == {
        "initial_prompt": "Write it",
        "agent_classifier_result": {"category": "tech", "tags": ["x", 2]},
        "agent_research_result": "Findings.",
        "agent_draft_result": "Draft text.",
        "agent_researcher_result": "Findings.",
        "results": {
            "classifier": {"category": "tech", "tags": ["x", 2]},
            "research": "Findings.",
            "draft": "Draft text.",
        },
        "texts": {"classifier": RESULTS["classifier"].text},
    }
    assert "agent_writer_result" not in context  # writer runs twice: ambiguous, so no key


def _merged(context: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
    """What the engine's snapshot statement does with a step's part (renum/context.py)."""
    nested = {k: {**context.get(k, {}), **part[k]} for k in ("results", "texts")}
    return {**context, **{k: v for k, v in part.items() if k not in nested}, **nested}


def test_the_parts_of_the_steps_make_the_context_in_any_order() -> None:
    shape = dsl.ContextShape(PLAN)
    for order in (list(RESULTS), list(reversed(RESULTS))):
        context: dict[str, Any] = {"initial_prompt": "Write it"}
        for step_id in order:
            context = _merged(context, shape.part(step_id, RESULTS[step_id]))
        assert context == dsl.build_context(PLAN, "Write it", RESULTS)
    assert shape.part("draft", RESULTS["draft"]) == {
        "agent_draft_result": "Draft text.", "results": {"draft": "Draft text."}, "texts": {}}
    with pytest.raises(dsl.DslStateError):
        shape.part("nobody", dsl.StepResult("x"))


def test_build_context_refuses_unknown_steps() -> None:
    with pytest.raises(dsl.DslStateError):
        dsl.build_context(PLAN, "x", {"nobody": dsl.StepResult("x")})


def test_render_each_input_source() -> None:
    context = dsl.build_context(PLAN, "Write it", RESULTS)
    assert dsl.render_prompt(PLAN.step("classifier"), context) == "Write it"
    assert dsl.render_prompt(PLAN.step("final"), context) == "Draft text."
    assert dsl.render_prompt(PLAN.step("draft"), context) == (
        "## Initial prompt\n\nWrite it\n\n"
        f"## triage\n\n{RESULTS['classifier'].text}\n\n"
        "## researcher\n\nFindings."
    )
    assert dsl.render_prompt(PLAN.step("editor"), context) == (
        'Brief: Write it\nKind: tech\nTags: ["x",2]\nMissing: []\n'
        f"Draft: Draft text.\nTriage: {RESULTS['classifier'].text}"
    )


def test_substitution_is_not_evaluated_twice() -> None:
    sneaky = {"classifier": dsl.StepResult("{{initial_prompt}}"), "draft": dsl.StepResult("d")}
    context = dsl.build_context(PLAN, "SECRET", sneaky)
    assert "Draft: d\nTriage: {{initial_prompt}}" in dsl.render_prompt(PLAN.step("editor"), context)


def test_render_needs_the_results_it_reads() -> None:
    context = dsl.build_context(PLAN, "Write it", {})
    with pytest.raises(dsl.DslStateError):
        dsl.render_prompt(PLAN.step("final"), context)
    with pytest.raises(dsl.DslStateError):
        dsl.render_prompt(PLAN.step("classifier"), {})
