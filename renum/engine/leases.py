"""Leases in PostgreSQL: exactly one worker drives an execution at a time.

A worker acquires an execution's lease before driving it and renews every
lease it holds on each heartbeat; a lease not renewed within its TTL expires
and any worker may take the execution over. Renewal also tells the holder
whether a cancel was requested, so a cancel reaches the driver within one
heartbeat even if the pub/sub notice is lost.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ACTIVE_STATUSES", "acquire", "held_sql", "release", "renew"]

#: Statuses of executions that still need a driver.
ACTIVE_STATUSES = ("queued", "running", "waiting_for_credentials")


async def acquire(pool: Any, execution_id: str, owner: str, ttl_s: float) -> Any | None:
    """Take the lease if it is free, expired or already ours; return the execution row."""
    return await pool.fetchrow(
        """UPDATE executions
              SET lease_owner = $2,
                  lease_expires_at = now() + make_interval(secs => $3),
                  updated_at = now()
            WHERE id = $1
              AND status = ANY($4::text[])
              AND (lease_owner IS NULL OR lease_owner = $2 OR lease_expires_at < now())
        RETURNING *""",
        execution_id,
        owner,
        ttl_s,
        list(ACTIVE_STATUSES),
    )


async def renew(pool: Any, owner: str, execution_ids: list[str], ttl_s: float) -> dict[str, bool]:
    """Extend the leases ``owner`` still holds; map each kept id to its cancel flag."""
    if not execution_ids:
        return {}
    rows = await pool.fetch(
        """UPDATE executions
              SET lease_expires_at = now() + make_interval(secs => $3)
            WHERE id = ANY($1::uuid[]) AND lease_owner = $2
        RETURNING id, cancel_requested""",
        execution_ids,
        owner,
        ttl_s,
    )
    return {str(r["id"]): r["cancel_requested"] for r in rows}


def held_sql(execution: str, owner: str) -> str:
    """SQL, true while ``owner`` holds an unexpired lease on ``execution`` (expressions).

    Checked in the statement that opens a step attempt, and again before a
    start that is tried again: a worker that lost its lease touches nothing.
    """
    return (f"(SELECT lease_owner = {owner} AND lease_expires_at > now()"
            f" FROM executions WHERE id = {execution})")  # fmt: skip


async def release(pool: Any, execution_id: str, owner: str) -> None:
    """Give the lease up (the execution is finished or this worker is stopping)."""
    await pool.execute(
        """UPDATE executions SET lease_owner = NULL, lease_expires_at = NULL
            WHERE id = $1 AND lease_owner = $2""",
        execution_id,
        owner,
    )
