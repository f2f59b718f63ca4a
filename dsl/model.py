"""The validated workflow: steps, inputs and conditions, as `load()` returns them.

All references are resolved: a step reference is always a step id, and a
field or placeholder is a *context path*, `("initial_prompt",)` or
`("results", <step id>, <key or index>...)`, into the dict `build_context()`
builds. Everything here is immutable and made of plain JSON-like values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal, get_args

from pydantic import Field

from dsl.options import StepOptions, WorkflowOptions

__all__ = [
    "OPERATORS",
    "AllOf",
    "AnyOf",
    "CombinedInput",
    "CombinedSource",
    "Compare",
    "Condition",
    "InputSpec",
    "JsonScalar",
    "NotOf",
    "Operator",
    "PromptInput",
    "ResultInput",
    "Step",
    "TemplateInput",
    "TemplatePart",
    "Workflow",
    "WorkflowGraph",
    "WorkflowType",
]

WorkflowType = Literal["sequential", "parallel", "conditional", "dag"]
Operator = Literal[
    "equals",
    "not_equals",
    "contains",
    "not_contains",
    "in",
    "not_in",
    "gt",
    "gte",
    "lt",
    "lte",
    "exists",
    "not_exists",
    "matches",
]
OPERATORS: tuple[Operator, ...] = get_args(Operator)
"""Every condition operator, in documentation order."""
JsonScalar = str | bool | int | float | None
ContextPath = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Compare:
    """`{field, operator, value}`: compares the value at `path` with the literal `value`."""

    field: str
    """The field as written, for display."""
    path: ContextPath
    operator: Operator
    value: JsonScalar | tuple[JsonScalar, ...] = None
    kind: Literal["compare"] = "compare"


@dataclass(frozen=True, slots=True)
class AllOf:
    """`{"all": [...]}`: every item holds (true when empty)."""

    items: tuple[Condition, ...]
    kind: Literal["all"] = "all"


@dataclass(frozen=True, slots=True)
class AnyOf:
    """`{"any": [...]}`: at least one item holds."""

    items: tuple[Condition, ...]
    kind: Literal["any"] = "any"


@dataclass(frozen=True, slots=True)
class NotOf:
    """`{"not": cond}`: the item does not hold."""

    item: Condition
    kind: Literal["not"] = "not"


Condition = Annotated[Compare | AllOf | AnyOf | NotOf, Field(discriminator="kind")]


@dataclass(frozen=True, slots=True)
class PromptInput:
    """`{"source": "initial_prompt"}`: the execution's initial prompt, verbatim."""

    source: Literal["initial_prompt"] = "initial_prompt"


@dataclass(frozen=True, slots=True)
class ResultInput:
    """`{"source": "agent_result", "agent_id": ref}`: the answer text of one step."""

    step: str
    source: Literal["agent_result"] = "agent_result"


@dataclass(frozen=True, slots=True)
class CombinedSource:
    """One part of a combined input: a step's answer (`step`), or the initial prompt (`None`)."""

    step: str | None
    label: str
    """Heading of the part: the source step's role, or `Initial prompt`."""


@dataclass(frozen=True, slots=True)
class CombinedInput:
    """`{"source": "combined", "sources": [...]}`: several parts, each under its heading."""

    sources: tuple[CombinedSource, ...]
    source: Literal["combined"] = "combined"


@dataclass(frozen=True, slots=True)
class TemplatePart:
    """Literal `text`, or the value at context `path` when `path` is set."""

    text: str = ""
    path: ContextPath | None = None


@dataclass(frozen=True, slots=True)
class TemplateInput:
    """`{"source": "template", "template": "..."}`: placeholders substituted, never evaluated."""

    parts: tuple[TemplatePart, ...]
    source: Literal["template"] = "template"


InputSpec = Annotated[
    PromptInput | ResultInput | CombinedInput | TemplateInput, Field(discriminator="source")
]


@dataclass(frozen=True, slots=True)
class Step:
    """One validated step: which agent runs, on what input, when, and with which options."""

    id: str
    agent_id: str
    """The Suna agent that runs this step."""
    role: str
    input: InputSpec
    conditions: tuple[Condition, ...]
    """All must hold for the step to run."""
    depends_on: tuple[str, ...]
    """Explicit dependencies (`dag` only)."""
    options: StepOptions


@dataclass(frozen=True, slots=True)
class WorkflowGraph:
    """The dependency graph `load()` derives (to find cycles), kept so `compile()` need not."""

    type: WorkflowType
    steps: tuple[Step, ...]
    """The very tuple it was derived from: a workflow with other steps derives its own."""
    edges: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]
    """(dependencies, needs) of each step, in declaration order."""
    order: tuple[int, ...]
    """Step positions in topological order; shorter than `steps` when there is a cycle."""


@dataclass(frozen=True, slots=True)
class Workflow:
    """A validated workflow document; `compile()` turns it into a `Plan`."""

    type: WorkflowType
    steps: tuple[Step, ...]
    options: WorkflowOptions
    name: str | None = None
    description: str | None = None
    graph: WorkflowGraph | None = field(default=None, compare=False, repr=False)
    """Derived data, not part of the workflow's value; see `dsl.graph.graph_of`."""
