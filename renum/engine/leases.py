"""Leases in PostgreSQL: exactly one worker drives an execution at a time.

A worker acquires an execution's lease before driving it and renews every
lease it holds on each heartbeat; a lease not renewed within its TTL expires
and any worker may take the execution over. Renewal also tells the holder
whether a cancel was requested, so a cancel reaches the driver within one
heartbeat even if the pub/sub notice is lost.
"""

from __future__ import annotations

from typing import Any

from renum.events import EVENTS_APPENDED, insert_events_sql
from renum.suna_accounts import suna_key_sql

__all__ = ["ACTIVE_STATUSES", "acquire", "driving_sql", "finish_set_sql", "held_sql", "release",
           "renew", "started_data"]  # fmt: skip

#: Statuses of executions that still need a driver.
ACTIVE_STATUSES = ("queued", "running", "waiting_for_credentials")


async def acquire(pool: Any, execution_id: str, owner: str, ttl_s: float) -> Any | None:
    """Take the lease if it is free, expired or already ours; return what a driver needs.

    Only a dispatched execution is taken (renum.dispatch): an entry of one that was
    parked since, or is waiting its turn, is stale.

    A queued execution is started by the same statement: status ``running``,
    ``started_at`` and its ``execution_started`` event, which the driver publishes
    (the row's ``prior_status`` is the status it had, with ``ev_base``/``ev_at``
    for :func:`renum.events.events_appended`).
    """
    if_queued = "(CASE WHEN ev_seq.prior_status = 'queued' THEN {} END)"  # else no event
    return await pool.fetchrow(
        f"""WITH prior AS (SELECT id, status FROM executions WHERE id = $1 FOR UPDATE),
           ev_seq AS (
              UPDATE executions e
                 SET lease_owner = $2, lease_expires_at = now() + make_interval(secs => $3),
                     updated_at = now(),
                     status = CASE WHEN e.status = 'queued' THEN 'running' ELSE e.status END,
                     started_at = CASE WHEN e.status = 'queued' THEN now()
                                       ELSE e.started_at END,
                     event_seq = e.event_seq + (e.status = 'queued')::int
                FROM prior
               WHERE e.id = prior.id AND e.status = ANY($4::text[]) AND e.dispatched
                 AND (e.lease_owner IS NULL OR e.lease_owner = $2 OR e.lease_expires_at < now())
           RETURNING e.id, e.user_id, e.team_id, e.status, e.initial_prompt, e.plan, e.budget_usd,
                     e.started_at, e.cancel_requested, prior.status AS prior_status,
                     e.suna_account, e.agents, e.event_seq - 1 AS base, {suna_key_sql("e")}),
           {insert_events_sql("$1::uuid", if_queued.format("$5::text[]"),
                              if_queued.format("$6::jsonb"))}
        SELECT ev_seq.*, {EVENTS_APPENDED} FROM ev_seq""",
        execution_id, owner, ttl_s, list(ACTIVE_STATUSES), ["execution_started"],
        [started_data(owner)],
    )  # fmt: skip


def started_data(owner: str) -> dict[str, Any]:
    """The ``execution_started`` event's data."""
    return {"worker_id": owner}


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


def driving_sql(owner: str) -> str:
    """SQL condition on an ``executions`` row: still unfinished and its lease ``owner``'s
    (what the statement that ends an execution checks; expiry aside, as a take-over's
    first write would tell)."""
    active = ", ".join(f"'{s}'" for s in ACTIVE_STATUSES)
    return f"lease_owner = {owner} AND status IN ({active})"


def finish_set_sql(status: str, error: str) -> str:
    """The assignments that end an execution (``status`` and ``error`` are SQL expressions):
    its final status and error, ``finished_at``, and the lease let go."""
    return (f"status = {status}, error = {error}, finished_at = now(), updated_at = now(),"
            " lease_owner = NULL, lease_expires_at = NULL")  # fmt: skip


async def release(pool: Any, execution_id: str, owner: str) -> None:
    """Give the lease up (the execution is finished or this worker is stopping)."""
    await pool.execute(
        """UPDATE executions SET lease_owner = NULL, lease_expires_at = NULL
            WHERE id = $1 AND lease_owner = $2""",
        execution_id,
        owner,
    )
