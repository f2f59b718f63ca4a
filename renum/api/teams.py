"""Teams: a named workflow of Suna agents, validated and planned on every write."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, Field

import dsl
from renum.api.deps import CurrentUser, PoolDep, SettingsDep, SunaAccountsDep
from renum.api.suna_agents import account_of
from renum.api.suna_agents import check_agents as check_workflow_agents
from renum.errors import RequestValidationProblem
from renum.store import (
    create_team,
    decode_cursor,
    delete_team,
    encode_cursor,
    get_team,
    update_team,
)
from renum.store import list_teams as list_team_rows
from renum.suna_accounts import SunaAccounts
from renum.webhooks import WebhookUrl, refuse_blocked

__all__ = ["compile_workflow", "router"]

router = APIRouter(prefix="/v1", tags=["teams"])

_EXAMPLE_WORKFLOW = {
    "type": "sequential",
    "agents": [
        {"agent_id": "researcher", "role": "researcher", "input": {"source": "initial_prompt"}},
        {"agent_id": "writer", "role": "writer",
         "input": {"source": "agent_result", "agent_id": "researcher"}},
    ],
}  # fmt: skip


class TeamIn(BaseModel):
    """A team as the client writes it."""

    name: str = Field(min_length=1, max_length=200, examples=["research-team"])
    description: str = Field(default="", max_length=4000)
    workflow: dict[str, Any] = Field(
        description="The workflow DSL document (see GET /v1/dsl/schema)",
        examples=[_EXAMPLE_WORKFLOW],
    )
    webhook_url: WebhookUrl = None


class TeamOut(BaseModel):
    """A stored team."""

    id: uuid.UUID
    name: str
    description: str
    workflow: dict[str, Any]
    steps: list[str] = Field(description="Step ids in plan order")
    webhook_url: str | None
    created_at: datetime
    updated_at: datetime


CheckAgents = Annotated[bool, Query(
    description="Check every step's agent against Suna (the account your executions run "
    "as): an unknown or ambiguous agent is a 422. `false` saves without asking Suna, for "
    "when it is down (the steps then fail at start if an agent is missing)")]  # fmt: skip


class TeamPage(BaseModel):
    """A page of teams, newest first."""

    items: list[TeamOut]
    next_cursor: str | None


def compile_workflow(workflow: dict[str, Any], *, prefix: str = "/workflow") -> dict[str, Any]:
    """Validate and plan a workflow; every problem becomes a 422 error with its path."""
    try:
        plan = dsl.compile(dsl.load(workflow))
    except dsl.DslValidationError as exc:
        errors = [
            {"path": prefix + p.path, "code": p.code, "message": p.message} for p in exc.problems
        ]
        raise RequestValidationProblem(
            f"The workflow has {len(errors)} problem(s)", errors=errors
        ) from None
    plan_dict: dict[str, Any] = plan.to_dict()
    return plan_dict


async def _compiled(
    workflow: dict[str, Any], user_id: str, pool: Any, accounts: SunaAccounts, check: bool
) -> dict[str, Any]:
    """The workflow's plan, its agents checked in Suna unless ``check`` is false."""
    plan = compile_workflow(workflow)
    if check:
        await check_workflow_agents(accounts, await account_of(accounts, pool, user_id), plan)
    return plan


def _team_out(row: Any) -> TeamOut:
    plan = dsl.Plan.from_dict(row["plan"])
    return TeamOut(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        workflow=row["workflow"],
        steps=[step.id for step in plan.steps],
        webhook_url=row["webhook_url"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


@router.post(
    "/teams",
    status_code=status.HTTP_201_CREATED,
    response_model=TeamOut,
    summary="Create a team",
    responses={409: {"description": "A team with this name exists"},
               422: {"description": "The workflow is invalid, or names an agent Suna does "
                                    "not have; errors[] lists every problem"},
               503: {"description": "Suna could not check the agents (see check_agents)"}},
)  # fmt: skip
async def post_team(
    body: TeamIn, user: CurrentUser, pool: PoolDep, accounts: SunaAccountsDep,
    settings: SettingsDep, response: Response, check_agents: CheckAgents = True,
) -> TeamOut:  # fmt: skip
    """Validate the workflow, plan it, check its agents in Suna, and store the team."""
    refuse_blocked(body.webhook_url, settings)
    plan = await _compiled(body.workflow, user.user_id, pool, accounts, check_agents)
    row = await create_team(
        pool, user.user_id, name=body.name, description=body.description,
        workflow=body.workflow, plan=plan, webhook_url=body.webhook_url,
    )  # fmt: skip
    response.headers["Location"] = f"/v1/teams/{row['id']}"
    return _team_out(row)


@router.get("/teams", response_model=TeamPage, summary="List your teams")
async def get_teams(
    user: CurrentUser,
    pool: PoolDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> TeamPage:
    """Teams of the caller, newest first; pass `next_cursor` back as `cursor` for more."""
    after = _cursor(cursor)
    rows = await list_team_rows(pool, user.user_id, limit=limit + 1, after=after)
    items = [_team_out(r) for r in rows[:limit]]
    more = len(rows) > limit
    next_cursor = (
        encode_cursor(rows[limit - 1]["created_at"], rows[limit - 1]["id"]) if more else None
    )
    return TeamPage(items=items, next_cursor=next_cursor)


def _cursor(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    if cursor is None:
        return None
    try:
        return decode_cursor(cursor)
    except ValueError:
        raise RequestValidationProblem(
            "The cursor is not valid",
            errors=[{"path": "/query/cursor", "code": "invalid_cursor",
                     "message": "not a cursor from this API"}],
        ) from None  # fmt: skip


@router.get("/teams/{team_id}", response_model=TeamOut, summary="Read a team")
async def read_team(team_id: uuid.UUID, user: CurrentUser, pool: PoolDep) -> TeamOut:
    """One of the caller's teams."""
    return _team_out(await get_team(pool, user.user_id, team_id))


@router.put(
    "/teams/{team_id}", response_model=TeamOut, summary="Replace a team",
    responses={422: {"description": "The workflow is invalid, or names an agent Suna does "
                                    "not have"},
               503: {"description": "Suna could not check the agents (see check_agents)"}},
)  # fmt: skip
async def put_team(
    team_id: uuid.UUID, body: TeamIn, user: CurrentUser, pool: PoolDep,
    accounts: SunaAccountsDep, settings: SettingsDep, check_agents: CheckAgents = True,
) -> TeamOut:  # fmt: skip
    """Replace name, description and workflow (checked as on create); running executions are
    not affected."""
    refuse_blocked(body.webhook_url, settings)
    plan = await _compiled(body.workflow, user.user_id, pool, accounts, check_agents)
    row = await update_team(
        pool, user.user_id, team_id, name=body.name, description=body.description,
        workflow=body.workflow, plan=plan, webhook_url=body.webhook_url,
    )  # fmt: skip
    return _team_out(row)


@router.delete("/teams/{team_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a team")
async def remove_team(team_id: uuid.UUID, user: CurrentUser, pool: PoolDep) -> Response:
    """Delete a team; its executions stay readable."""
    await delete_team(pool, user.user_id, team_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
