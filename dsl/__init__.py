"""The workflow DSL of Renum: parse, validate, plan and schedule — pure, no I/O.

    workflow = dsl.load(document)            # every problem at once, or a Workflow
    plan = dsl.compile(workflow)             # the same DAG model for every type
    stored = plan.to_dict()                  # JSON for PostgreSQL; Plan.from_dict(stored)
    decision = dsl.Scheduler(plan).decide(state, initial_prompt=prompt)
    context = dsl.build_context(plan, prompt, results)
    prompt_text = dsl.render_prompt(plan.step(step_id), context)
    result = dsl.parse_result(answer_text)

The engine does the I/O; this package decides everything else. Options and
their defaults live in `dsl.options`, size limits in `dsl.options.LIMITS`.
"""

from dsl.conditions import evaluate
from dsl.errors import DslCostError, DslError, DslStateError, DslValidationError, Problem
from dsl.model import (
    AllOf,
    AnyOf,
    CombinedInput,
    CombinedSource,
    Compare,
    Condition,
    InputSpec,
    NotOf,
    PromptInput,
    ResultInput,
    Step,
    TemplateInput,
    TemplatePart,
    Workflow,
)
from dsl.options import LIMITS, Limits, RetryPolicy, StepOptions, WorkflowOptions
from dsl.plan import PLAN_VERSION, Plan, PlanStep, compile
from dsl.prompts import render_prompt
from dsl.results import ContextShape, StepResult, build_context, parse_result
from dsl.scheduler import Decision, Scheduler, SkipReason, StepState, StepStatus, Undecided
from dsl.schema import json_schema
from dsl.validate import load

__all__ = [
    "LIMITS",
    "PLAN_VERSION",
    "AllOf",
    "AnyOf",
    "CombinedInput",
    "CombinedSource",
    "Compare",
    "Condition",
    "ContextShape",
    "Decision",
    "DslCostError",
    "DslError",
    "DslStateError",
    "DslValidationError",
    "InputSpec",
    "Limits",
    "NotOf",
    "Plan",
    "PlanStep",
    "Problem",
    "PromptInput",
    "ResultInput",
    "RetryPolicy",
    "Scheduler",
    "SkipReason",
    "Step",
    "StepOptions",
    "StepResult",
    "StepState",
    "StepStatus",
    "TemplateInput",
    "TemplatePart",
    "Undecided",
    "Workflow",
    "WorkflowOptions",
    "build_context",
    "compile",
    "evaluate",
    "json_schema",
    "load",
    "parse_result",
    "render_prompt",
]
