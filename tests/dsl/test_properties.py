"""Properties over random workflows and random input (hypothesis).

The default profile runs 200 cases per property; `HYPOTHESIS_PROFILE=full`
runs 10,000 (see conftest.py).
"""

from __future__ import annotations

import copy
import functools
import json
from typing import Any

from hypothesis import assume, example, given
from hypothesis import strategies as st

import dsl

TYPES = ["sequential", "parallel", "conditional", "dag"]
AGENTS = ["researcher", "agent-123", "agent_x-1", "classifier", "w"]
CATEGORIES = ["technical", "billing", "other"]
PATTERNS = ["tech", "^b", "(?i)OTHER", "[0-9]+", "(a|aa)+$"]
SCALARS = st.sampled_from([*CATEGORIES, 1, 2.5, True, None, ""])
NUMBERS = st.integers(-5, 10) | st.sampled_from([0.5, 7.25])


@functools.cache
def fields(readable: tuple[str, ...]) -> st.SearchStrategy[str]:
    options = [st.just("initial_prompt")]
    if readable:
        step = st.sampled_from(readable)
        key = st.sampled_from(["category", "score", "tags.0", ""])
        options.append(st.builds(lambda s, k: f"results.{s}{'.' + k if k else ''}", step, key))
        options.append(st.builds(lambda s, k: f"agent_{s}_result{'.' + k if k else ''}", step, key))
    return st.one_of(options)


@functools.cache
def leaves(readable: tuple[str, ...]) -> st.SearchStrategy[dict[str, Any]]:
    def leaf(operator: str, value: st.SearchStrategy[Any] | None) -> st.SearchStrategy[Any]:
        if value is None:
            return st.builds(lambda f: {"field": f, "operator": operator}, fields(readable))
        return st.builds(
            lambda f, v: {"field": f, "operator": operator, "value": v}, fields(readable), value
        )

    return st.one_of(
        *(leaf(op, SCALARS) for op in ["equals", "not_equals", "contains", "not_contains"]),
        *(leaf(op, st.lists(SCALARS, min_size=1, max_size=3)) for op in ["in", "not_in"]),
        *(leaf(op, NUMBERS) for op in ["gt", "gte", "lt", "lte"]),
        leaf("exists", None),
        leaf("not_exists", None),
        leaf("matches", st.sampled_from(PATTERNS)),
    )


@functools.cache
def conditions(readable: tuple[str, ...]) -> st.SearchStrategy[dict[str, Any]]:
    return st.recursive(
        leaves(readable),
        lambda inner: st.one_of(
            st.builds(lambda items: {"all": items}, st.lists(inner, min_size=1, max_size=3)),
            st.builds(lambda items: {"any": items}, st.lists(inner, min_size=1, max_size=3)),
            st.builds(lambda item: {"not": item}, inner),
        ),
        max_leaves=4,
    )


@functools.cache
def inputs(readable: tuple[str, ...]) -> st.SearchStrategy[dict[str, Any]]:
    prompt = st.just({"source": "initial_prompt"})
    if not readable:
        return prompt | st.just({"source": "template", "template": "Do: {{ initial_prompt }}"})
    step = st.sampled_from(readable)
    source = st.one_of(
        st.just({"type": "initial_prompt"}),
        st.builds(lambda s: {"type": "agent_result", "agent_id": s}, step),
    )
    return st.one_of(
        prompt,
        st.builds(lambda s: {"source": "agent_result", "agent_id": s}, step),
        st.builds(lambda s: {"source": "agent_result", "step": s}, step),
        st.builds(
            lambda items: {"source": "combined", "sources": items},
            st.lists(source, min_size=1, max_size=3),
        ),
        st.builds(
            lambda s, t: {
                "source": "template",
                "template": f"{{{{initial_prompt}}}} / {{{{results.{s}{t}}}}}",
            },
            step,
            st.sampled_from(["", ".category", ".tags.1"]),
        ),
    )


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(TYPES))
    agents: list[dict[str, Any]] = []
    for i in range(draw(st.integers(1, 8))):
        readable = () if kind == "parallel" else tuple(f"s{j}" for j in range(i))
        step: dict[str, Any] = {"id": f"s{i}", "agent_id": draw(st.sampled_from(AGENTS))}
        if draw(st.booleans()):
            step["role"] = draw(st.sampled_from(["writer", "Senior analyst", "r"]))
        step["input"] = draw(inputs(readable))
        if draw(st.booleans()):
            step["conditions"] = draw(st.lists(conditions(readable), max_size=3))
        if kind == "dag" and readable and draw(st.booleans()):
            step["depends_on"] = draw(st.lists(st.sampled_from(readable), unique=True, max_size=3))
        if draw(st.booleans()):
            step["on_failure"] = draw(st.sampled_from(["fail", "continue"]))
        if draw(st.booleans()):
            step["retry"] = {"max_attempts": draw(st.integers(1, 3))}
        agents.append(step)
    document: dict[str, Any] = {"type": kind, "agents": agents}
    if draw(st.booleans()):
        document["max_concurrency"] = draw(st.integers(1, 4))
    assume(json.dumps(document).count('"matches"') <= dsl.LIMITS.max_regexes)
    return document


@given(documents())
def test_random_valid_workflows_plan_acyclically_and_deterministically(
    conforms: Any, document: Any
) -> None:
    assert conforms(document)
    plan = dsl.compile(dsl.load(document))
    assert plan == dsl.compile(dsl.load(json.loads(json.dumps(document))))
    assert plan.to_dict() == dsl.compile(dsl.load(document)).to_dict()
    assert dsl.Plan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan
    assert sorted(s.index for s in plan.steps) == list(range(len(document["agents"])))
    seen: set[str] = set()
    for step in plan.steps:
        assert set(step.deps) <= seen and set(step.needs) <= set(step.deps)
        seen.add(step.id)


OUTCOMES = st.one_of(
    st.builds(
        lambda c, n: dsl.StepState(
            "completed", dsl.parse_result(json.dumps({"category": c, "score": n, "tags": ["x", n]}))
        ),
        st.sampled_from(CATEGORIES),
        NUMBERS,
    ),
    st.just(dsl.StepState("completed", dsl.parse_result("plain tech answer"))),
    st.just(dsl.StepState("failed", error="agent failed")),
)


@given(documents(), st.data())
def test_a_simulated_run_starts_every_step_at_most_once_and_ends(
    drive: Any, document: Any, data: st.DataObject
) -> None:
    plan = dsl.compile(dsl.load(document))
    outcomes = {s.id: data.draw(OUTCOMES, label=s.id) for s in plan.steps}
    prompt = data.draw(st.sampled_from(["urgent billing", "hello"]), label="prompt")
    state, started, decision = drive(
        plan,
        outcomes.__getitem__,
        prompt=prompt,
        pick=lambda running: data.draw(st.sampled_from(list(running)), label="next"),
        fresh_scheduler=lambda turn: turn % 3 == 2,
    )
    assert len(started) == len(set(started))
    fatal = [
        s.id
        for s in plan.steps
        if state[s.id].status == "failed" and s.options.on_failure == "fail"
    ]
    assert decision.status == ("failed" if fatal else "completed")
    assert {sid for sid, value in state.items() if value.status != "skipped"} == set(started)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=25,
)
KEYS = st.sampled_from(
    [
        "type",
        "agents",
        "agent_id",
        "id",
        "role",
        "input",
        "source",
        "sources",
        "template",
        "conditions",
        "field",
        "operator",
        "value",
        "all",
        "any",
        "not",
        "depends_on",
        "retry",
        "max_attempts",
        "on_failure",
        "requires_keys",
        "budget_usd",
        "max_concurrency",
        "step",
    ]
)
WORDS = st.sampled_from(
    [
        "sequential",
        "parallel",
        "conditional",
        "dag",
        "initial_prompt",
        "agent_result",
        "combined",
        "template",
        "s0",
        "a",
        "equals",
        "matches",
        "in",
        "gt",
        "exists",
        "results.s0.x",
        "agent_s0_result",
        "{{initial_prompt}}",
        "{{results.a}}",
        "(",
        "continue",
    ]
)
NEAR = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 3) | WORDS | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(KEYS | st.text(max_size=4), inner, max_size=5)
    ),
    max_leaves=40,
)


def only_validation_errors(value: object) -> None:
    try:
        workflow = dsl.load(value)  # type: ignore[arg-type]
    except dsl.DslValidationError as error:
        assert error.problems
        assert all(p.code != "internal_error" for p in error.problems), error.problems
        assert all(p.path == "" or p.path.startswith("/") for p in error.problems)
    else:
        dsl.compile(workflow)


@given(JSON | NEAR)
@example({"²": None})
@example({"1" * 5_000: None, "agents": {"9" * 5_000: 1}})
def test_random_json_never_raises_anything_but_validation_errors(value: object) -> None:
    only_validation_errors(value)


@given(st.text(max_size=200) | st.builds(json.dumps, NEAR))
def test_random_text_never_raises_anything_but_validation_errors(text: str) -> None:
    only_validation_errors(text)


def _locations(value: Any) -> list[tuple[Any, Any]]:
    found: list[tuple[Any, Any]] = []
    stack = [value]
    while stack:
        node = stack.pop()
        pairs = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in pairs:
            found.append((node, key))
            if isinstance(child, dict | list):
                stack.append(child)
    return found


@given(documents(), st.data())
def test_mutated_workflows_never_raise_anything_but_validation_errors(
    document: Any, data: st.DataObject
) -> None:
    mutated = copy.deepcopy(document)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        node, key = data.draw(st.sampled_from(_locations(mutated)), label="where")
        node[key] = data.draw(NEAR | JSON, label="what")
    only_validation_errors(mutated)
