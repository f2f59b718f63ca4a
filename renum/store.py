"""PostgreSQL queries for teams and executions; SQLSTATE errors become domain errors here.

Every query that reads a user's rows takes the user id, so another user's row
is simply not found (404), never shown.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from renum.dispatch import place_launch
from renum.errors import ConflictError, NotFoundError
from renum.events import Event, record

__all__ = [
    "create_execution",
    "create_team",
    "decode_cursor",
    "delete_team",
    "encode_cursor",
    "get_execution",
    "get_team",
    "list_executions",
    "list_teams",
    "step_runs",
    "update_team",
]


@asynccontextmanager
async def _translated() -> AsyncIterator[None]:
    """Turn constraint violations into domain errors."""
    try:
        yield
    except asyncpg.UniqueViolationError as exc:
        constraint = getattr(exc, "constraint_name", "") or ""
        if "teams_user_name" in constraint:
            raise ConflictError("A team with this name already exists") from None
        raise ConflictError("This resource already exists") from None
    except asyncpg.ForeignKeyViolationError:
        raise NotFoundError("A referenced resource does not exist") from None


def encode_cursor(created_at: datetime, row_id: uuid.UUID) -> str:
    """An opaque cursor after (created_at, id)."""
    raw = json.dumps([created_at.isoformat(), str(row_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """Read a cursor made by :func:`encode_cursor`; ValueError when it is not one."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, row_id = json.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromisoformat(created_at), uuid.UUID(row_id)
    except Exception:
        raise ValueError("not a cursor from this API") from None


# --- teams -------------------------------------------------------------------


async def create_team(
    pool: Any,
    user_id: str,
    *,
    name: str,
    description: str,
    workflow: dict[str, Any],
    plan: dict[str, Any],
    webhook_url: str | None,
) -> Any:
    """Insert a team; a duplicate name for the same user is a 409."""
    async with _translated():
        return await pool.fetchrow(
            """INSERT INTO teams (id, user_id, name, description, workflow, plan, webhook_url)
               VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *""",
            uuid.uuid4(), user_id, name, description, workflow, plan, webhook_url,
        )  # fmt: skip


async def get_team(pool: Any, user_id: str, team_id: uuid.UUID) -> Any:
    """One live team of the user, or 404."""
    row = await pool.fetchrow(
        "SELECT * FROM teams WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL",
        team_id,
        user_id,
    )
    if row is None:
        raise NotFoundError(f"Team {team_id} was not found")
    return row


async def list_teams(
    pool: Any, user_id: str, *, limit: int, after: tuple[datetime, uuid.UUID] | None
) -> list[Any]:
    """The user's live teams, newest first, ``limit`` at a time."""
    created_at, row_id = after if after else (None, None)
    rows: list[Any] = await pool.fetch(
        """SELECT * FROM teams
            WHERE user_id = $1 AND deleted_at IS NULL
              AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))
            ORDER BY created_at DESC, id DESC LIMIT $4""",
        user_id, created_at, row_id, limit,
    )  # fmt: skip
    return rows


async def update_team(
    pool: Any,
    user_id: str,
    team_id: uuid.UUID,
    *,
    name: str,
    description: str,
    workflow: dict[str, Any],
    plan: dict[str, Any],
    webhook_url: str | None,
) -> Any:
    """Replace a team's definition; running executions keep the workflow they launched with."""
    async with _translated():
        row = await pool.fetchrow(
            """UPDATE teams SET name = $3, description = $4, workflow = $5, plan = $6,
                      webhook_url = $7, updated_at = now()
                WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL RETURNING *""",
            team_id, user_id, name, description, workflow, plan, webhook_url,
        )  # fmt: skip
    if row is None:
        raise NotFoundError(f"Team {team_id} was not found")
    return row


async def delete_team(pool: Any, user_id: str, team_id: uuid.UUID) -> None:
    """Soft-delete a team (its executions stay readable)."""
    done = await pool.fetchval(
        """UPDATE teams SET deleted_at = now() WHERE id = $1 AND user_id = $2
              AND deleted_at IS NULL RETURNING id""",
        team_id,
        user_id,
    )
    if done is None:
        raise NotFoundError(f"Team {team_id} was not found")


# --- executions --------------------------------------------------------------


async def create_execution(
    pool: Any,
    user_id: str,
    team: Any,
    *,
    initial_prompt: str,
    budget_usd: Decimal | None,
    metadata: dict[str, Any],
    idempotency_key: str | None,
    webhook_url: str | None,
    initial_context: dict[str, Any],
    suna_account: str = "service",
    suna_key_at: datetime | None = None,
    agents: dict[str, str] | None = None,
    concurrency: int,
    queued_max: int | None,
) -> tuple[Any, bool, Event | None]:
    """Insert a queued execution with its first event; (row, created, event).

    ``suna_account`` (``service`` or ``user``) and ``agents`` (names → UUIDs) are
    what its steps will call Suna as, and with, fixed now. It is ``dispatched``
    (to be enqueued by the caller) if the user has one of ``concurrency`` places
    free, else it waits its turn (renum.dispatch); a user with ``queued_max``
    unfinished executions is refused (None: a retried launch, not counted). With
    an idempotency key already used by this user, returns the earlier execution
    (created = False); a different request under the same key is a 409.
    """
    async with pool.acquire() as conn, conn.transaction():
        dispatched = await place_launch(conn, user_id, concurrency=concurrency,
                                        queued_max=queued_max)  # fmt: skip
        row = await conn.fetchrow(
            """INSERT INTO executions (id, user_id, team_id, status, initial_prompt, workflow,
                                       plan, budget_usd, metadata, idempotency_key, webhook_url,
                                       suna_account, suna_key_at, agents, dispatched)
               VALUES ($1, $2, $3, 'queued', $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
               ON CONFLICT (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL
               DO NOTHING RETURNING *""",
            uuid.uuid4(), user_id, team["id"], initial_prompt, team["workflow"], team["plan"],
            budget_usd, metadata, idempotency_key, webhook_url, suna_account, suna_key_at,
            agents or None, dispatched,
        )  # fmt: skip
        if row is None:
            existing = await conn.fetchrow(
                "SELECT * FROM executions WHERE user_id = $1 AND idempotency_key = $2",
                user_id,
                idempotency_key,
            )
            same = (existing["team_id"], existing["initial_prompt"], existing["budget_usd"],
                    existing["metadata"], existing["webhook_url"]) == (
                team["id"], initial_prompt, budget_usd, metadata, webhook_url)  # fmt: skip
            if not same:
                raise ConflictError("This Idempotency-Key was already used for a different launch")
            return existing, False, None
        event = await record(conn, str(row["id"]), "execution_queued", {"team_id": str(team["id"])})
        await conn.execute(
            "INSERT INTO context_snapshots (execution_id, context) VALUES ($1, $2)",
            row["id"], initial_context,
        )  # fmt: skip
        return row, True, event


async def get_execution(pool: Any, user_id: str | None, execution_id: uuid.UUID) -> Any:
    """One execution of the user (any user's when ``user_id`` is None), or 404."""
    row = await pool.fetchrow(
        "SELECT * FROM executions WHERE id = $1 AND ($2::text IS NULL OR user_id = $2)",
        execution_id,
        user_id,
    )
    if row is None:
        raise NotFoundError(f"Execution {execution_id} was not found")
    return row


async def list_executions(
    pool: Any,
    user_id: str,
    *,
    team_id: uuid.UUID | None,
    status: str | None,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[Any]:
    """The user's executions, newest first, filtered, ``limit`` at a time."""
    created_at, row_id = after if after else (None, None)
    rows: list[Any] = await pool.fetch(
        """SELECT * FROM executions
            WHERE user_id = $1
              AND ($2::uuid IS NULL OR team_id = $2)
              AND ($3::text IS NULL OR status = $3)
              AND ($4::timestamptz IS NULL OR (created_at, id) < ($4, $5))
            ORDER BY created_at DESC, id DESC LIMIT $6""",
        user_id, team_id, status, created_at, row_id, limit,
    )  # fmt: skip
    return rows


async def step_runs(pool: Any, execution_id: uuid.UUID) -> list[Any]:
    """Every attempt of every step of an execution, in step and attempt order."""
    rows: list[Any] = await pool.fetch(
        "SELECT * FROM step_runs WHERE execution_id = $1 ORDER BY created_at, step_id, attempt",
        execution_id,
    )
    return rows
