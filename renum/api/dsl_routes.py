"""The workflow DSL over HTTP: validate a workflow, read the schema."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

import dsl
from renum.api.deps import CurrentUser
from renum.errors import problem_response

__all__ = ["router"]

router = APIRouter(prefix="/v1/dsl", tags=["dsl"])


@router.post(
    "/validate",
    summary="Validate a workflow and summarise its plan",
    responses={422: {"description": "Every problem, each with its JSON path and code"}},
)
async def validate(workflow: dict[str, Any], user: CurrentUser) -> JSONResponse:
    """Answer the plan's steps and dependencies, or 422 listing every problem."""
    try:
        plan = dsl.compile(dsl.load(workflow))
    except dsl.DslValidationError as exc:
        errors = [p.to_dict() for p in exc.problems]
        return problem_response(422, "invalid_workflow",
                                f"The workflow has {len(errors)} problem(s)",
                                instance="/v1/dsl/validate", errors=errors)  # fmt: skip
    return JSONResponse({
        "valid": True, "type": plan.type,
        "steps": [{"id": s.id, "agent_id": s.agent_id, "role": s.role, "depends_on": list(s.deps)}
                  for s in plan.steps],
        "options": plan.to_dict()["options"],
    })  # fmt: skip


@router.get("/schema", summary="The JSON Schema of the workflow DSL")
async def schema(user: CurrentUser) -> dict[str, Any]:
    """The JSON Schema every team's `workflow` follows."""
    return dsl.json_schema()
