"""The shared context of an execution: live in Redis, snapshotted to PostgreSQL.

The context is the dict :func:`dsl.build_context` makes from the initial
prompt and the finished steps' results (seed keys ``initial_prompt``,
``agent_<agent_id>_result``, and ``results``). It is written to a Redis hash
(one JSON-encoded field per top-level key) and to ``context_snapshots`` after
every step; a reader that finds Redis empty restores it from the snapshot.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from renum.redis_keys import context_key

__all__ = ["ContextStore", "snapshot_sql"]

_log = logging.getLogger("renum.context")

#: How long a finished execution's context stays in Redis (PostgreSQL keeps it).
CONTEXT_TTL_S = 7 * 24 * 3600


def snapshot_sql(execution: str, context: str, *, when: str = "true") -> str:
    """The ``snap`` CTE: upsert the execution's snapshot (SQL expressions, usually parameters)."""
    return f"""snap AS (
          INSERT INTO context_snapshots (execution_id, context, version)
          SELECT {execution}, {context}::jsonb, 1 WHERE {when}
          ON CONFLICT (execution_id) DO UPDATE
             SET context = EXCLUDED.context, version = context_snapshots.version + 1,
                 updated_at = now()
          RETURNING 1)"""


class ContextStore:
    """Save and load execution contexts."""

    def __init__(self, pool: Any, redis: aioredis.Redis) -> None:
        self._pool = pool
        self._redis = redis

    async def save(self, execution_id: str, context: dict[str, Any]) -> None:
        """Snapshot to PostgreSQL, then write Redis."""
        await self._pool.execute(
            f"WITH {snapshot_sql('$1::uuid', '$2')} SELECT 1", execution_id, context
        )
        await self._write_redis(execution_id, context)

    async def write_live(self, execution_id: str, context: dict[str, Any]) -> None:
        """Write Redis only (the caller's statement wrote the snapshot, see snapshot_sql)."""
        await self._write_redis(execution_id, context)

    async def _write_redis(self, execution_id: str, context: dict[str, Any]) -> None:
        """Set the hash's fields (a context only grows: no field ever needs deleting)."""
        if not context:
            return
        key = context_key(execution_id)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hset(key, mapping={k: json.dumps(v) for k, v in context.items()})
                pipe.expire(key, CONTEXT_TTL_S)
                await pipe.execute()
        except RedisError as exc:
            _log.warning(
                "context not written to redis (%s); the snapshot has it", type(exc).__name__
            )

    async def load(self, execution_id: str) -> dict[str, Any] | None:
        """The context from Redis, or restored from the snapshot; None if there is none."""
        try:
            fields: dict[Any, Any] = await self._redis.hgetall(context_key(execution_id))
        except RedisError:
            fields = {}
        if fields:
            return {k: json.loads(v) for k, v in fields.items()}
        snapshot = await self._pool.fetchval(
            "SELECT context FROM context_snapshots WHERE execution_id = $1", execution_id
        )
        if snapshot is None:
            return None
        await self._write_redis(execution_id, snapshot)
        return dict(snapshot)
