"""`load()`: parse and validate a workflow document, reporting every problem at once.

Problem codes (stable): `invalid_json`, `too_large`, `wrong_type`,
`unknown_field`, `missing_field`, `invalid_value`, `invalid_format`,
`out_of_range`, `too_long`, `too_many_items`, `empty_list`, `empty_workflow`,
`too_many_steps`, `duplicate_id`, `duplicate_item`, `unknown_ref`,
`ambiguous_ref`, `ref_not_before`, `cycle`, `field_not_allowed`,
`conflicting_fields`, `unknown_operator`, `operator_value_mismatch`,
`invalid_field`, `invalid_regex`, `regex_too_complex`, `too_deep`,
`too_many_conditions`, `too_many_regexes`, `too_many_problems`,
`internal_error` (a bug in this package; never expected).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final, cast

from dsl._parse_steps import PROMPT_INPUT, StepParser
from dsl._reader import At, Reader, is_number, type_name
from dsl._refs import Heads, read_heads
from dsl.errors import DslValidationError, Problem
from dsl.graph import cycles, derive
from dsl.model import InputSpec, Step, Workflow, WorkflowGraph, WorkflowType
from dsl.options import LIMITS, WorkflowOptions

__all__ = ["load"]

TYPES: Final[tuple[WorkflowType, ...]] = ("sequential", "parallel", "conditional", "dag")
_TOP_KEYS: Final = frozenset(
    {"type", "agents", "name", "description", "max_concurrency", "timeout_s", "budget_usd",
     "model"}
)
_STEP_KEYS: Final = frozenset(
    {
        "id",
        "agent_id",
        "role",
        "input",
        "conditions",
        "depends_on",
        "model",
        "timeout_s",
        "retry",
        "on_failure",
        "requires_keys",
    }
)
_DECIMAL: Final = re.compile(r"[0-9]{1,12}(\.[0-9]{1,12})?")


def load(obj: Mapping[str, Any] | str) -> Workflow:
    """Parse and validate a workflow given as a JSON object or JSON text.

    Raises `DslValidationError` listing every problem, and nothing else, for
    any input at all. A missing `type` means `sequential`, as in the seed.
    """
    reader = Reader()
    try:
        workflow = _load(obj, reader)
    except Exception as error:  # a bug here must still not become a 500
        reader.add("internal_error", "", f"unexpected {type(error).__name__} while validating")
        workflow = None
    if reader.problems or workflow is None:
        problems = reader.problems or [Problem("internal_error", "", "no result")]
        raise DslValidationError(sorted(problems, key=_position))
    return workflow


def _position(problem: Problem) -> tuple[bool, list[tuple[int, int | str]]]:
    """Sort key: by path, array indices numerically; the overflow marker last."""
    keys = problem.path.split("/")[1:]
    order: list[tuple[int, int | str]] = [
        (0, int(key)) if key.isascii() and key.isdigit() and len(key) < 10 else (1, key)
        for key in keys
    ]
    return problem.code == "too_many_problems", order


def _load(obj: object, reader: Reader) -> Workflow | None:
    if isinstance(obj, str | bytes):
        obj = _decode(obj, reader)
        if reader.problems:
            return None
    top = reader.obj(obj, "")
    if top is None:
        return None
    reader.fields(top, "", _TOP_KEYS, ("agents",))
    kind: WorkflowType = "sequential"
    if "type" in top:
        chosen = reader.choice(top["type"], "/type", TYPES, "invalid_value")
        kind = cast(WorkflowType, chosen or "sequential")
    options = _workflow_options(top, reader)
    name = description = None
    if top.get("name") is not None:
        name = reader.string(top["name"], "/name", LIMITS.max_text_chars)
    if top.get("description") is not None:
        description = reader.string(top["description"], "/description", LIMITS.max_text_chars)
    agents = _agents(top, reader)
    if not agents:
        return None
    heads = read_heads(agents, kind, reader)
    model = None  # the model of every step that names none
    if top.get("model") is not None:
        model = reader.string(top["model"], "/model", LIMITS.max_text_chars)
    parser = StepParser(reader, heads.read_ref, heads.resolve_placeholder, heads.labels,
                        default_model=model)  # fmt: skip
    steps = [_step(item, i, kind, heads, parser) for i, item in enumerate(agents)]
    present = tuple(step for step in steps if step is not None)
    graph = derive(kind, present)
    if kind in ("dag", "conditional") and len(graph.order) < len(present):
        _report_cycles(graph, heads, reader)
    return Workflow(kind, present, options, name, description, graph)


def _decode(text: str | bytes, reader: Reader) -> object:
    if len(text) > LIMITS.max_document_chars:
        reader.add("too_large", "", f"document longer than {LIMITS.max_document_chars} characters")
        return None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as error:
        reader.add("invalid_json", "", f"not valid JSON: {str(error)[:200]}")
        return None


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def _agents(top: Mapping[Any, Any], reader: Reader) -> list[Any] | None:
    if "agents" not in top:
        return None
    agents = top["agents"]
    if not isinstance(agents, list | tuple):
        reader.add("wrong_type", "/agents", f"expected an array, got {type_name(agents)}")
        return None
    if not agents:
        reader.add("empty_workflow", "/agents", "a workflow needs at least one step")
        return None
    if len(agents) > LIMITS.max_steps:
        reader.add("too_many_steps", "/agents", f"more than {LIMITS.max_steps} steps")
        return None
    return list(agents)


def _workflow_options(top: Mapping[Any, Any], reader: Reader) -> WorkflowOptions:
    defaults = WorkflowOptions()
    concurrency: float | None = defaults.max_concurrency
    if "max_concurrency" in top:
        concurrency = reader.number(
            top["max_concurrency"], "/max_concurrency", 1, LIMITS.max_steps, integer=True
        )
    timeout_s: float | None = defaults.timeout_s
    if "timeout_s" in top:
        timeout_s = reader.number(top["timeout_s"], "/timeout_s", 0.001, LIMITS.max_timeout_s)
    budget = _budget(top["budget_usd"], reader) if top.get("budget_usd") is not None else None
    return WorkflowOptions(
        int(concurrency or defaults.max_concurrency),
        float(timeout_s or defaults.timeout_s),
        budget,
    )


def _budget(value: object, reader: Reader) -> Decimal | None:
    """A JSON number or decimal string, kept exact: `0.1` means `Decimal("0.1")`."""
    amount: Decimal | None = None
    if isinstance(value, str) and _DECIMAL.fullmatch(value):
        amount = Decimal(value)
    elif isinstance(value, Decimal) and value.is_finite():
        amount = value
    elif is_number(value):
        try:
            amount = Decimal(repr(value))
        except InvalidOperation:
            amount = None
    if amount is None:
        reader.add("invalid_format", "/budget_usd", "expected a number or a decimal string")
    elif not 0 <= amount <= LIMITS.max_budget_usd:
        reader.add("out_of_range", "/budget_usd", f"must be between 0 and {LIMITS.max_budget_usd}")
        amount = None
    return amount


def _step(
    item: object, i: int, kind: WorkflowType, heads: Heads, parser: StepParser
) -> Step | None:
    path = f"/agents/{i}"
    if not isinstance(item, Mapping):
        return None  # reported by read_heads
    parser.reader.fields(item, path, _STEP_KEYS, ("agent_id",))
    heads.current = i
    spec: InputSpec = PROMPT_INPUT
    if "input" in item:
        spec = parser.input(item["input"], (path, "input"))
    conditions = (
        heads.conditions.parse_list(item["conditions"], (path, "conditions"))
        if ("conditions" in item)
        else ()
    )
    depends_on: tuple[str, ...] = ()
    if "depends_on" in item:
        depends_on = _depends_on(item["depends_on"], (path, "depends_on"), kind, heads)
    options = parser.options(item, path)
    step_id, agent_id = heads.ids[i], heads.agent_ids[i]
    if step_id is None or agent_id is None:
        return None
    return Step(step_id, agent_id, heads.labels[step_id], spec, conditions, depends_on, options)


def _depends_on(value: object, path: At, kind: WorkflowType, heads: Heads) -> tuple[str, ...]:
    reader = heads.reader
    if kind != "dag":
        reader.add("field_not_allowed", path, f"depends_on is for type dag, not {kind}")
        return ()
    found: dict[str, None] = {}
    for i, item in enumerate(reader.array(value, path, LIMITS.max_steps) or ()):
        step = heads.read_ref(item, (path, i))
        if step in found:
            reader.add("duplicate_item", (path, i), f"{step!r} listed twice")
        elif step is not None:
            found[step] = None
    return tuple(found)


def _report_cycles(graph: WorkflowGraph, heads: Heads, reader: Reader) -> None:
    index = {step.id: i for i, step in enumerate(graph.steps)}
    deps = [[index[dep] for dep in step_deps] for step_deps, _ in graph.edges]
    for component in cycles(deps):
        ids = [graph.steps[i].id for i in component]
        first = heads.ids.index(ids[0])
        reader.add("cycle", f"/agents/{first}", f"steps depend on each other: {', '.join(ids)}")
