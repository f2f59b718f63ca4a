"""Fair dispatch: each user has a window of places in the queue, the rest wait in PostgreSQL.

An execution is *dispatched* when it holds one of its user's
``RENUM_USER_CONCURRENCY`` places: it is in the dispatch queue (Redis) or a
worker drives it. A launch takes a place if one is free; otherwise the
execution waits in PostgreSQL, and :func:`promote` dispatches the user's
oldest waiting executions as places free up (an execution ends or parks).
The queue therefore never holds more than a window per user: one user's
10,000 launches stand behind nobody else's one.

An execution whose steps only wait for credentials *parks* (the driver
decides): it gives its place and its worker slot up and waits in PostgreSQL
until the user stores a key (:func:`wake_parked`), it is cancelled, or its
``parked_until`` (the end of its wait) passes. A cancel requested of a
waiting execution is dispatched at once, place or not: cancelling is short.

Every statement that counts or takes a user's places holds that user's
advisory lock, so two launches, or a launch and a promotion, cannot both take
the last place. A promotion lost to a crash or to Redis being away is made
good by the sweeper (:func:`promote_due`): nothing waits forever.
"""

from __future__ import annotations

import logging
from typing import Any

from renum.engine.leases import ACTIVE_STATUSES
from renum.engine.queue import ExecutionQueue
from renum.errors import TooManyRequestsError

__all__ = ["place_launch", "promote", "promote_due", "wake_parked"]

_log = logging.getLogger("renum.dispatch")

#: Class of the per-user advisory locks (the two-key form: the user's hash is the other key).
DISPATCH_LOCK_CLASS = 0x72656E64

_LOCK_USER = "SELECT pg_advisory_xact_lock($1, hashtext($2))"

# The user's waiting executions that are due (not parked, or parked until now), oldest
# first, as many as the user has free places; and every one whose cancel is requested.
_PROMOTE = """
    WITH placed AS (
        SELECT count(*) AS n FROM executions
         WHERE user_id = $1 AND status = ANY($2::text[]) AND dispatched),
    due AS (
        SELECT id, cancel_requested,
               row_number() OVER (PARTITION BY cancel_requested ORDER BY created_at, id) AS rank
          FROM executions
         WHERE user_id = $1 AND status = ANY($2::text[]) AND NOT dispatched
           AND (cancel_requested OR parked_until IS NULL OR parked_until <= now()))
    UPDATE executions e SET dispatched = true, parked_until = NULL, updated_at = now()
      FROM due, placed
     WHERE e.id = due.id AND (due.cancel_requested OR due.rank <= $3 - placed.n)
    RETURNING e.id"""


async def place_launch(
    conn: Any, user_id: str, *, concurrency: int, queued_max: int | None
) -> bool:
    """In a launch's transaction: whether the new execution takes a place now.

    Refuses the launch (429 ``too_many_unfinished``) when the user already has
    ``queued_max`` unfinished executions (None: not checked, a retried launch).
    Holds the user's lock until the transaction ends, so the insert that follows
    is counted by the next launch.
    """
    await conn.execute(_LOCK_USER, DISPATCH_LOCK_CLASS, user_id)
    row = await conn.fetchrow(
        """SELECT count(*) AS unfinished, count(*) FILTER (WHERE dispatched) AS placed
             FROM executions WHERE user_id = $1 AND status = ANY($2::text[])""",
        user_id, list(ACTIVE_STATUSES),
    )  # fmt: skip
    if queued_max is not None and row["unfinished"] >= queued_max:
        raise TooManyRequestsError(
            f"You have {row['unfinished']} unfinished executions, the most this deployment "
            f"keeps for one user (RENUM_USER_QUEUED_MAX={queued_max}); launch again once "
            "some have finished, or cancel some",
            code="too_many_unfinished", retry_after_s=10,
        )  # fmt: skip
    return bool(row["placed"] < concurrency)


async def promote(pool: Any, redis: Any, user_id: str, concurrency: int) -> int:
    """Dispatch the user's due waiting executions into the places free; return how many.

    Committed before anything is enqueued: if Redis is away, the sweeper enqueues
    them (they are dispatched and have no lease).
    """
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(_LOCK_USER, DISPATCH_LOCK_CLASS, user_id)
        rows = await conn.fetch(_PROMOTE, user_id, list(ACTIVE_STATUSES), concurrency)
    queue = ExecutionQueue(redis)
    for row in rows:
        await queue.enqueue(str(row["id"]))
    return len(rows)


async def promote_due(pool: Any, redis: Any, concurrency: int) -> int:
    """The sweeper's pass: promote every user who has due waiting executions.

    A parked execution whose user stored a key since it parked is due too, notice
    or not (a key written while Redis was away, or behind the API's back).
    """
    await pool.execute(
        """UPDATE executions e SET parked_until = now(), updated_at = now()
            WHERE status = 'waiting_for_credentials' AND NOT dispatched
              AND parked_until > now()
              AND EXISTS (SELECT 1 FROM user_keys k
                           WHERE k.user_id = e.user_id AND k.updated_at >= e.updated_at)""")
    users = await pool.fetch(
        """SELECT DISTINCT user_id FROM executions
            WHERE status = ANY($1::text[]) AND NOT dispatched
              AND (cancel_requested OR parked_until IS NULL OR parked_until <= now())""",
        list(ACTIVE_STATUSES),
    )  # fmt: skip
    promoted = 0
    for row in users:
        promoted += await promote(pool, redis, row["user_id"], concurrency)
    if promoted:
        _log.info("dispatched %d waiting execution(s) of %d user(s)", promoted, len(users))
    return promoted


async def wake_parked(pool: Any, redis: Any, user_id: str, concurrency: int) -> int:
    """The user stored a key: their parked executions are due now; promote them."""
    await pool.execute(
        """UPDATE executions SET parked_until = now(), updated_at = now()
            WHERE user_id = $1 AND status = 'waiting_for_credentials' AND NOT dispatched
              AND parked_until > now()""",
        user_id,
    )  # fmt: skip
    return await promote(pool, redis, user_id, concurrency)
