"""The dispatch queue: a Redis stream of execution ids read by one consumer group.

An entry is acknowledged once its execution is finished or driven by someone
else. Entries a dead worker left pending are taken over with ``XAUTOCLAIM``.
Redis may lose the stream and group (a flush, a restart without persistence):
the group is recreated on the next read, and the sweeper re-enqueues every
execution PostgreSQL still holds as unfinished, so nothing is lost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from renum.redis_keys import EXECUTION_QUEUE, WORKER_GROUP

__all__ = ["ExecutionQueue", "QueueEntry"]

_log = logging.getLogger("renum.engine.queue")


@dataclass(frozen=True)
class QueueEntry:
    """One delivery of an execution id."""

    entry_id: str
    execution_id: str


class ExecutionQueue:
    """Enqueue, read, claim and acknowledge execution ids."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis

    async def ensure_group(self) -> None:
        """Create the stream and consumer group if missing (idempotent)."""
        try:
            await self._redis.xgroup_create(EXECUTION_QUEUE, WORKER_GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def enqueue(self, execution_id: str) -> str:
        """Add an execution id to the queue; returns the entry id."""
        entry_id = await self._redis.xadd(EXECUTION_QUEUE, {"execution_id": execution_id})
        return str(entry_id)

    async def read(
        self, consumer: str, *, count: int, block_ms: int | None
    ) -> list[QueueEntry]:
        """Read new entries for ``consumer``, blocking up to ``block_ms`` (None: not at all)."""
        try:
            reply: Any = await self._redis.xreadgroup(
                WORKER_GROUP, consumer, {EXECUTION_QUEUE: ">"}, count=count, block=block_ms
            )
        except ResponseError as exc:
            # NOGROUP: the group is gone; UNBLOCKED (Redis 7): the stream was deleted while
            # this read was blocked on it. Either way Redis lost the queue: recreate it.
            if "NOGROUP" not in str(exc) and "UNBLOCKED" not in str(exc):
                raise
            _log.warning("the queue's consumer group is gone (redis lost it); recreating")
            await self.ensure_group()
            return []
        return [
            QueueEntry(str(entry_id), fields["execution_id"])
            for _stream, entries in reply or []
            for entry_id, fields in entries
            if fields
        ]

    async def claim_stale(self, consumer: str, *, min_idle_ms: int, count: int) -> list[QueueEntry]:
        """Take over entries other consumers left pending for ``min_idle_ms``."""
        try:
            reply: Any = await self._redis.xautoclaim(
                EXECUTION_QUEUE, WORKER_GROUP, consumer, min_idle_time=min_idle_ms, count=count
            )
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            await self.ensure_group()
            return []
        entries = reply[1] if reply else []
        return [
            QueueEntry(str(entry_id), fields["execution_id"])
            for entry_id, fields in entries
            if fields
        ]

    async def ack(self, *entry_ids: str) -> None:
        """Acknowledge (and delete) entries."""
        if entry_ids:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.xack(EXECUTION_QUEUE, WORKER_GROUP, *entry_ids)
                pipe.xdel(EXECUTION_QUEUE, *entry_ids)
                await pipe.execute()

    async def depth(self) -> int:
        """Entries waiting: not yet delivered plus delivered but unacknowledged."""
        try:
            return int(await self._redis.xlen(EXECUTION_QUEUE))
        except ResponseError:
            return 0
