"""Executions: launch (202 + queue), read, list, context, cancel, and live events (SSE)."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response, status
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from redis.exceptions import RedisError

import dsl
from renum.api.deps import CurrentUser, PoolDep, RedisDep, SettingsDep, SunaAccountsDep
from renum.api.suna_agents import account_of, freeze_agents
from renum.api.teams import _cursor
from renum.budgets import require_user_budget_left
from renum.context import ContextStore
from renum.dispatch import promote
from renum.engine.queue import ExecutionQueue
from renum.errors import RequestValidationProblem
from renum.events import EventLog, record
from renum.metrics import EXECUTIONS
from renum.ratelimit import take_launch_token
from renum.redis_keys import CANCEL_CHANNEL
from renum.settings import Settings
from renum.store import create_execution, encode_cursor, get_execution, get_team, list_executions
from renum.store import step_runs as step_run_rows
from renum.webhooks import WebhookUrl, refuse_blocked

__all__ = ["cancel_execution", "router"]

router = APIRouter(prefix="/v1", tags=["executions"])
_log = logging.getLogger("renum.api.executions")

_STATUSES = ("queued", "running", "waiting_for_credentials", "completed", "failed", "cancelled",
             "budget_exceeded")  # fmt: skip
_FINAL = frozenset({"completed", "failed", "cancelled", "budget_exceeded"})


class LaunchIn(BaseModel):
    """What a launch says."""

    initial_prompt: str = Field(
        min_length=1, max_length=1_000_000, examples=["Research the history of the transistor"],
        description="At most RENUM_MAX_PROMPT_CHARS characters (100,000 by default).",
    )  # fmt: skip
    budget_usd: Decimal | None = Field(default=None, ge=0, le=1_000_000, max_digits=20,
                                       decimal_places=10)  # fmt: skip
    metadata: dict[str, Any] = Field(default_factory=dict)
    webhook_url: WebhookUrl = None


def _links(execution_id: Any) -> dict[str, str]:
    base = f"/v1/executions/{execution_id}"
    return {"self": base, "events": f"{base}/events", "context": f"{base}/context",
            "cancel": f"{base}/cancel"}  # fmt: skip


@router.post(
    "/teams/{team_id}/executions",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Launch an execution of a team",
    responses={202: {"description": "Queued; follow `links.events`"},
               409: {"description": "Idempotency-Key reused for a different launch"}},
)  # fmt: skip
async def launch(
    team_id: uuid.UUID,
    body: LaunchIn,
    user: CurrentUser,
    pool: PoolDep,
    redis: RedisDep,
    accounts: SunaAccountsDep,
    settings: SettingsDep,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=255)] = None,
) -> JSONResponse:
    """Record the execution and queue it; a retried launch with the same key returns it again.

    The execution runs as your own Suna account if you stored its key
    (``PUT /v1/keys/suna``), else as the service account; its agents' names are resolved
    to UUIDs now and kept for the whole execution. At most RENUM_USER_CONCURRENCY of
    your executions are dispatched at once; the others wait their turn, oldest first
    (`dispatch` in the answer says which). Launches are rate-limited per user (429 with
    `Retry-After`), and so is the number of your unfinished executions."""
    _refuse_oversized(body, settings)
    refuse_blocked(body.webhook_url, settings)
    team = await get_team(pool, user.user_id, team_id)
    plan = dsl.Plan.from_dict(team["plan"])
    budget = body.budget_usd if body.budget_usd is not None else plan.options.budget_usd
    retried = idempotency_key is not None and bool(await pool.fetchval(
        "SELECT 1 FROM executions WHERE user_id = $1 AND idempotency_key = $2",
        user.user_id, idempotency_key))  # fmt: skip
    if not retried:  # a retried launch still gets its execution back
        await take_launch_token(redis, user.user_id, rate_per_s=settings.launch_rate_per_s,
                                burst=settings.launch_burst)  # fmt: skip
        await require_user_budget_left(pool, user.user_id)
    account = await account_of(accounts, pool, user.user_id)
    agents = await freeze_agents(accounts, account, team["plan"])
    row, created, event = await create_execution(
        pool, user.user_id, team, initial_prompt=body.initial_prompt, budget_usd=budget,
        metadata=body.metadata, idempotency_key=idempotency_key,
        webhook_url=body.webhook_url or team["webhook_url"],
        initial_context=dsl.build_context(plan, body.initial_prompt, {}),
        suna_account=account.caller.kind, suna_key_at=account.key_at, agents=agents,
        concurrency=settings.user_concurrency,
        queued_max=None if retried else settings.user_queued_max,
    )  # fmt: skip
    content = {"execution_id": str(row["id"]), "status": row["status"],
               "dispatch": "queued" if row["dispatched"] else "waiting_turn",
               "links": _links(row["id"])}  # fmt: skip
    if created:
        assert event is not None
        try:
            await EventLog(pool, redis).publish([event])
            if row["dispatched"]:
                await ExecutionQueue(redis).enqueue(str(row["id"]))
        except (RedisError, OSError) as exc:  # recorded: the sweeper will queue it
            _log.warning("launch %s recorded, not queued: redis unavailable (%s)",
                         row["id"], type(exc).__name__)  # fmt: skip
            content["dispatch"] = "delayed"
            content["detail"] = ("Recorded but not queued yet (Redis is unavailable): it "
                                 "will be queued within a minute; do not launch it again")
    return JSONResponse(content, status_code=202 if created else 200,
                        headers={"Location": _links(row["id"])["self"]})  # fmt: skip


def _refuse_oversized(body: LaunchIn, settings: Settings) -> None:
    """422 for a prompt or metadata over this deployment's limits (the body limit is 2 MiB)."""
    errors = []
    if len(body.initial_prompt) > settings.max_prompt_chars:
        errors.append({"path": "/body/initial_prompt", "code": "too_large",
                       "message": f"at most {settings.max_prompt_chars} characters "
                                  f"(RENUM_MAX_PROMPT_CHARS); got {len(body.initial_prompt)}"})
    size = len(json.dumps(body.metadata).encode())
    if size > settings.max_metadata_bytes:
        errors.append({"path": "/body/metadata", "code": "too_large",
                       "message": f"at most {settings.max_metadata_bytes} bytes of JSON "
                                  f"(RENUM_MAX_METADATA_BYTES); got {size}"})  # fmt: skip
    if errors:
        raise RequestValidationProblem("the launch is too large", errors=errors)


def _step_view(plan: dsl.Plan, rows: list[Any], usage: dict[tuple[str, int], Any]) -> list[Any]:
    latest: dict[str, Any] = {}
    for row in rows:
        latest[row["step_id"]] = row
    steps = []
    for step in sorted(plan.steps, key=lambda s: s.index):
        row = latest.get(step.id)
        u = usage.get((step.id, row["attempt"])) if row else None
        steps.append({
            "step_id": step.id, "agent_id": step.agent_id, "role": step.role,
            "status": row["status"] if row else "pending",
            "attempt": row["attempt"] if row else 0,
            "suna_thread_id": row["suna_thread_id"] if row else None,
            "suna_run_id": row["suna_run_id"] if row else None,
            "answer": row["answer"] if row else None,
            "output": (row["output"] or {}).get("data") if row else None,
            "error": row["error"] if row else None,
            "started_at": row["started_at"].isoformat() if row and row["started_at"] else None,
            "finished_at": row["finished_at"].isoformat() if row and row["finished_at"] else None,
            "usage": _usage_json(u) if u else None,
        })  # fmt: skip
    return steps


def _usage_json(row: Any) -> dict[str, Any]:
    cost = row["cost_usd"]
    return {"input_tokens": int(row["input_tokens"]), "output_tokens": int(row["output_tokens"]),
            "cached_tokens": int(row["cached_tokens"]),
            "cost_usd": None if cost is None else str(cost)}  # fmt: skip


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _summary(row: Any) -> dict[str, Any]:
    return {
        "id": str(row["id"]), "team_id": str(row["team_id"]), "status": row["status"],
        "budget_usd": None if row["budget_usd"] is None else str(row["budget_usd"]),
        "metadata": row["metadata"], "error": row["error"],
        "created_at": _iso(row["created_at"]), "started_at": _iso(row["started_at"]),
        "finished_at": _iso(row["finished_at"]), "links": _links(row["id"]),
    }  # fmt: skip


@router.get("/executions/{execution_id}", summary="Read an execution and its steps")
async def read_execution(execution_id: uuid.UUID, user: CurrentUser, pool: PoolDep) -> Any:
    """Status, timestamps, every step (status, attempt, Suna ids, answer, output, error, usage),
    the Suna account it runs as (`service` or `user`) and its agents' UUIDs by name."""
    row = await get_execution(pool, user.user_id, execution_id)
    rows = await step_run_rows(pool, execution_id)
    usage_rows = await pool.fetch(
        """SELECT step_id, attempt, input_tokens, output_tokens, cached_tokens, cost_usd
             FROM usage_log WHERE execution_id = $1""", execution_id)  # fmt: skip
    usage = {(u["step_id"], u["attempt"]): u for u in usage_rows}
    total_cost = [u["cost_usd"] for u in usage_rows]
    priced = all(c is not None for c in total_cost)
    return {
        **_summary(row), "initial_prompt": row["initial_prompt"],
        "suna_account": row["suna_account"], "agents": row["agents"] or {},
        "steps": _step_view(dsl.Plan.from_dict(row["plan"]), rows, usage),
        "usage": {
            "input_tokens": sum(int(u["input_tokens"]) for u in usage_rows),
            "output_tokens": sum(int(u["output_tokens"]) for u in usage_rows),
            "cached_tokens": sum(int(u["cached_tokens"]) for u in usage_rows),
            "cost_usd": str(sum((c for c in total_cost if c is not None), Decimal(0))),
            "fully_priced": priced, "agent_runs": len(usage_rows),
        },
    }  # fmt: skip


@router.get("/executions", summary="List your executions")
async def get_executions(
    user: CurrentUser,
    pool: PoolDep,
    team_id: uuid.UUID | None = None,
    status_: Annotated[
        str | None, Query(alias="status", pattern="^(" + "|".join(_STATUSES) + ")$")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Any:
    """Newest first, filtered by team and status; pass `next_cursor` back as `cursor`."""
    rows = await list_executions(pool, user.user_id, team_id=team_id, status=status_,
                                 limit=limit + 1, after=_cursor(cursor))  # fmt: skip
    more = len(rows) > limit
    last = rows[limit - 1] if more else None
    return {
        "items": [_summary(r) for r in rows[:limit]],
        "next_cursor": encode_cursor(last["created_at"], last["id"]) if last else None,
    }


@router.get("/executions/{execution_id}/context", summary="The execution's shared context")
async def read_context(
    execution_id: uuid.UUID, user: CurrentUser, pool: PoolDep, redis: RedisDep
) -> Any:
    """The shared context (Redis, or its PostgreSQL snapshot when Redis lost it)."""
    await get_execution(pool, user.user_id, execution_id)
    context = await ContextStore(pool, redis).load(str(execution_id))
    return {"execution_id": str(execution_id), "context": context or {}}


@router.post("/executions/{execution_id}/cancel", summary="Cancel an execution")
async def cancel(
    execution_id: uuid.UUID, user: CurrentUser, pool: PoolDep, redis: RedisDep,
    settings: SettingsDep,
) -> JSONResponse:  # fmt: skip
    """Idempotent: a finished execution is returned as it is; a queued one is cancelled at
    once; a running one is stopped by its worker (running Suna runs are stopped)."""
    answer, code = await cancel_execution(pool, redis, user.user_id, execution_id,
                                          settings.user_concurrency)  # fmt: skip
    return JSONResponse(answer, status_code=code)


async def cancel_execution(
    pool: Any, redis: Any, user_id: str, execution_id: uuid.UUID, concurrency: int
) -> tuple[dict[str, str], int]:
    """Cancel one of the user's executions (the route and the WebSocket's `stop`); the answer
    and its HTTP status: 200 when final now, 202 while its worker stops it.

    A queued execution ends here; one parked waiting for credentials is dispatched at once,
    place or not, for a worker to stop it; the user's places are filled again after."""
    row = await get_execution(pool, user_id, execution_id)
    if row["status"] in _FINAL:
        return {"execution_id": str(execution_id), "status": row["status"]}, 200
    events = EventLog(pool, redis)
    async with pool.acquire() as conn, conn.transaction():
        first = await conn.fetchval(
            """UPDATE executions SET cancel_requested = true, updated_at = now()
                WHERE id = $1 AND NOT cancel_requested RETURNING id""",
            execution_id,
        )
        done = await conn.fetchval(
            """UPDATE executions SET status = 'cancelled', finished_at = now(), updated_at = now()
                WHERE id = $1 AND status = 'queued'
                  AND (lease_owner IS NULL OR lease_expires_at < now()) RETURNING id""",
            execution_id)  # fmt: skip
        recorded = []
        if first:
            recorded.append(await record(conn, str(execution_id), "cancel_requested", {}))
        if done:
            recorded.append(
                await record(
                    conn,
                    str(execution_id),
                    "execution_cancelled",
                    {"status": "cancelled", "error": None},
                )
            )
    await events.publish(recorded)
    try:
        await promote(pool, redis, user_id, concurrency)
    except (RedisError, OSError) as exc:  # dispatched in PostgreSQL: the sweeper enqueues
        _log.warning("cancel of %s: not enqueued (%s)", execution_id, type(exc).__name__)
    if done:
        EXECUTIONS.labels("cancelled").inc()
        return {"execution_id": str(execution_id), "status": "cancelled"}, 200
    await redis.publish(CANCEL_CHANNEL, str(execution_id))
    return {"execution_id": str(execution_id), "status": "cancelling"}, 202


@router.get(
    "/executions/{execution_id}/events",
    summary="Follow the execution's events (server-sent events)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream_events(
    execution_id: uuid.UUID,
    request: Request,
    user: CurrentUser,
    pool: PoolDep,
    redis: RedisDep,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
    after: Annotated[int | None, Query(ge=0, description="Replay events after this id")] = None,
) -> Response:
    """Every event with an `id:`; `Last-Event-ID` (or `after`) replays from there; comments
    keep the connection alive; the stream closes after the terminal event."""
    await get_execution(pool, user.user_id, execution_id)
    start = after or 0
    if last_event_id is not None:
        if not last_event_id.isdigit():
            raise RequestValidationProblem(
                "Last-Event-ID must be an event id",
                errors=[
                    {"path": "/header/Last-Event-ID", "code": "invalid", "message": "not a number"}
                ],
            )
        start = int(last_event_id)
    log = EventLog(pool, redis, heartbeat_s=request.app.state.sse_heartbeat_s)

    async def body() -> AsyncIterator[bytes]:
        yield b": connected\n\n"
        async for event in log.follow(str(execution_id), start):
            if event is None:
                if await request.is_disconnected():
                    return
                yield b": heartbeat\n\n"
                continue
            data = json.dumps(event.to_json(), separators=(",", ":"))
            yield f"id: {event.seq}\nevent: {event.type}\ndata: {data}\n\n".encode()

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
