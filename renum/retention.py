"""Retention: a finished execution's bulky data is deleted after RENUM_RETENTION_DAYS.

What a user can make Renum store (prompts, answers, events, contexts) is kept
for the retention period, then the sweeper (every worker's, in turns) deletes
the execution's events and context snapshot, blanks its initial prompt and its
steps' prompts, answers and outputs, and drops its Redis keys. The execution
row, its steps' statuses and errors, and every ``usage_log`` row stay:
reports and billing never lose a run. ``purged_at`` says it happened.
"""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import RedisError

from renum.redis_keys import context_key, events_key

__all__ = ["BATCH", "purge_expired"]

_log = logging.getLogger("renum.retention")

#: Executions purged per statement: a sweep's work stays short whatever the backlog.
BATCH = 200


async def purge_expired(pool: Any, redis: Any, retention_days: float) -> int:
    """Purge up to BATCH executions finished more than ``retention_days`` ago."""
    rows = await pool.fetch(
        """WITH old AS (
              SELECT id FROM executions
               WHERE finished_at < now() - make_interval(secs => $1) AND purged_at IS NULL
               ORDER BY finished_at LIMIT $2 FOR UPDATE SKIP LOCKED),
           events AS (DELETE FROM execution_events WHERE execution_id IN (SELECT id FROM old)),
           snapshots AS (DELETE FROM context_snapshots WHERE execution_id IN (SELECT id FROM old)),
           steps AS (UPDATE step_runs SET prompt = NULL, answer = NULL, output = NULL
                      WHERE execution_id IN (SELECT id FROM old))
           UPDATE executions SET initial_prompt = '', purged_at = now()
            WHERE id IN (SELECT id FROM old)
        RETURNING id""",
        retention_days * 86_400.0, BATCH,
    )  # fmt: skip
    if rows:
        ids = [str(r["id"]) for r in rows]
        try:
            await redis.delete(*(k for i in ids for k in (context_key(i), events_key(i))))
        except (RedisError, OSError) as exc:  # they expire on their own
            _log.warning("retention: redis keys not deleted (%s)", type(exc).__name__)
        _log.info("retention: purged %d execution(s) older than %g days", len(ids),
                  retention_days)  # fmt: skip
    return len(rows)
