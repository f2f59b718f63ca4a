"""`compile()`: a validated workflow becomes a `Plan`, the DAG the engine runs and stores.

Every workflow type compiles to the same model. Steps come in topological
order, ties broken by their position in the workflow, so the same workflow
always gives an equal plan (and an equal `to_dict()`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

from pydantic import TypeAdapter, ValidationError

from dsl._patterns import pattern_problem
from dsl.errors import DslValidationError, Problem
from dsl.graph import graph_of
from dsl.model import AllOf, AnyOf, Compare, Condition, InputSpec, NotOf, Workflow, WorkflowType
from dsl.options import StepOptions, WorkflowOptions

__all__ = ["PLAN_VERSION", "Plan", "PlanStep", "compile"]

PLAN_VERSION: Final = 1
"""Version of the stored plan format; `Plan.from_dict` refuses any other."""


@dataclass(frozen=True, slots=True)
class PlanStep:
    """One step of a plan: the agent to run, on what, when, and with which options."""

    id: str
    agent_id: str
    role: str
    index: int
    """Position of the step in the workflow's `agents` list."""
    deps: tuple[str, ...]
    """Steps that must have settled (completed, failed, skipped, cancelled) before this one."""
    needs: tuple[str, ...]
    """Steps whose result the input reads: if one has no result, this step is skipped."""
    input: InputSpec
    conditions: tuple[Condition, ...]
    """All must hold, evaluated once `deps` have settled; otherwise the step is skipped."""
    options: StepOptions


@dataclass(frozen=True, slots=True)
class Plan:
    """A compiled workflow: steps in topological order plus workflow options.

    JSON-serialisable with `to_dict()` and loadable back with `from_dict()`,
    so the engine can keep it in PostgreSQL.
    """

    type: WorkflowType
    steps: tuple[PlanStep, ...]
    options: WorkflowOptions
    name: str | None = None
    description: str | None = None
    version: int = PLAN_VERSION

    def step(self, step_id: str) -> PlanStep:
        """The step with this id; `KeyError` if there is none."""
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    def to_dict(self) -> dict[str, Any]:
        """The plan as plain JSON (money as a decimal string)."""
        data: dict[str, Any] = _adapter().dump_python(self, mode="json")
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        """Load a stored plan, checking its shape and invariants; `DslValidationError` if bad."""
        try:
            plan = _adapter().validate_python(dict(data) if isinstance(data, Mapping) else data)
        except ValidationError as error:
            raise DslValidationError(
                Problem("invalid_plan", "".join(f"/{part}" for part in e["loc"]), e["msg"])
                for e in error.errors()[:100]
            ) from None
        problems = _plan_problems(plan)
        if problems:
            raise DslValidationError(problems)
        return plan


@cache
def _adapter() -> TypeAdapter[Plan]:
    return TypeAdapter(Plan)


def _plan_problems(plan: Plan) -> list[Problem]:
    problems: list[Problem] = []
    if plan.version != PLAN_VERSION:
        problems.append(Problem("invalid_plan", "/version", f"unsupported version {plan.version}"))
    seen: set[str] = set()
    for i, step in enumerate(plan.steps):
        path = f"/steps/{i}"
        if step.id in seen:
            problems.append(Problem("invalid_plan", path, f"duplicate step {step.id!r}"))
        if not set(step.deps) <= seen or not set(step.needs) <= set(step.deps):
            problems.append(Problem("invalid_plan", path, "dependencies out of order"))
        seen.add(step.id)
        stack: list[Condition] = list(step.conditions)
        while stack:
            node = stack.pop()
            if isinstance(node, AllOf | AnyOf):
                stack.extend(node.items)
            elif isinstance(node, NotOf):
                stack.append(node.item)
            elif isinstance(node, Compare) and node.operator == "matches":
                bad = pattern_problem(node.value) if isinstance(node.value, str) else ("", "")
                if bad is not None:
                    problems.append(Problem("invalid_plan", path, "bad matches pattern"))
    return problems


def compile(workflow: Workflow) -> Plan:
    """Turn a validated workflow into its plan; pure and deterministic."""
    index = {step.id: i for i, step in enumerate(workflow.steps)}
    if len(index) != len(workflow.steps):
        raise DslValidationError([Problem("duplicate_id", "/agents", "step ids must be unique")])
    graph = graph_of(workflow)
    pairs, order = graph.edges, graph.order
    if len(order) != len(workflow.steps):
        raise DslValidationError([Problem("cycle", "/agents", "steps depend on each other")])
    steps = tuple(
        PlanStep(
            step.id,
            step.agent_id,
            step.role,
            i,
            pairs[i][0],
            pairs[i][1],
            step.input,
            step.conditions,
            step.options,
        )
        for i in order
        for step in (workflow.steps[i],)
    )
    return Plan(workflow.type, steps, workflow.options, workflow.name, workflow.description)
