"""The shared context of an execution: live in Redis, snapshotted to PostgreSQL.

The context is the dict :func:`dsl.build_context` makes from the initial
prompt and the finished steps' results (seed keys ``initial_prompt``,
``agent_<agent_id>_result``, ``results`` and ``texts``). A step that completes
adds its part (:meth:`dsl.ContextShape.part`) in the statement that records its
outcome (:func:`snapshot_merge_sql`), so the snapshot in ``context_snapshots``
always holds every completed step, and then to Redis.

In Redis the context is a hash with one JSON field per top-level key, and one
per step under ``results.<step>`` and ``texts.<step>`` (as the spec names
them): each step writes only its own fields, so parallel steps never overwrite
each other. A hash without ``initial_prompt`` is one Redis lost and a later
step started again; a reader restores it from the snapshot.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from renum.redis_keys import context_key

__all__ = ["CONTEXT_TTL_S", "ContextStore", "LiveContext", "snapshot_merge_sql"]

_log = logging.getLogger("renum.context")

#: How long an execution's context stays in Redis after its last write (PostgreSQL keeps
#: it; a reader restores a lost one from the snapshot).
CONTEXT_TTL_S = 24 * 3600
#: Keys holding one entry per step (their Redis fields are ``<key>.<step id>``).
_PER_STEP = ("results", "texts")


def _merged(base: str, part: str) -> str:
    """SQL: the context ``base`` with a step's ``part`` added (both jsonb expressions)."""
    nested = ", ".join(f"'{k}', coalesce({base} -> '{k}', '{{}}') || ({part} -> '{k}')"
                       for k in _PER_STEP)  # fmt: skip
    flat = "".join(f" - '{k}'" for k in _PER_STEP)
    return f"({base} || ({part}{flat}) || jsonb_build_object({nested}))"


def snapshot_merge_sql(execution: str, part: str, *, when: str) -> str:
    """The ``snap`` CTE: add a step's part to the execution's snapshot (SQL expressions).

    Concurrent parts of parallel steps both land: each update merges into the row
    as the previous one left it. (The launch writes the first snapshot; one made
    here starts from the execution's initial prompt.)
    """
    part = f"{part}::jsonb"
    empty = ("jsonb_build_object('initial_prompt', "
             f"(SELECT initial_prompt FROM executions WHERE id = {execution}))")  # fmt: skip
    return f"""snap AS (
          INSERT INTO context_snapshots AS c (execution_id, context, version)
          SELECT {execution}, {_merged(empty, part)}, 1 WHERE {when}
          ON CONFLICT (execution_id) DO UPDATE
             SET context = {_merged("c.context", part)}, version = c.version + 1,
                 updated_at = now()
          RETURNING 1)"""


def _fields(context: Mapping[str, Any]) -> dict[str, str]:
    """A context (or a step's part of one) as Redis hash fields."""
    fields: dict[str, str] = {}
    for key, value in context.items():
        if key in _PER_STEP:
            fields.update((f"{key}.{step_id}", json.dumps(v)) for step_id, v in value.items())
        else:
            fields[key] = json.dumps(value)
    return fields


def _assembled(fields: Mapping[str, str]) -> dict[str, Any] | None:
    """The context held by Redis hash fields; None when they are not all of it."""
    if "initial_prompt" not in fields:
        return None
    context: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {k: {} for k in _PER_STEP}
    for field, raw in fields.items():
        value = json.loads(raw)
        head, dot, step_id = field.partition(".")
        if dot and head in nested:
            nested[head][step_id] = value
        elif field in nested:  # a hash written before fields were per step
            nested[field].update(value)
        else:
            context[field] = value
    return {**context, **nested}


@dataclass(frozen=True)
class LiveContext:
    """Fields to set in an execution's Redis context (sent with its events, in one pipeline)."""

    execution_id: str
    fields: dict[str, str]

    @classmethod
    def of(cls, execution_id: str, context: Mapping[str, Any]) -> LiveContext:
        """The fields of a whole context or of a step's part of one."""
        return cls(execution_id, _fields(context))

    def queue(self, pipe: Any) -> None:
        """Add the writes to a Redis pipeline (a context only grows: nothing is deleted)."""
        if self.fields:
            key = context_key(self.execution_id)
            pipe.hset(key, mapping=self.fields)
            pipe.expire(key, CONTEXT_TTL_S)

    async def settle(self, results: list[Any]) -> None:
        """Nothing to do: a missed write is restored from the snapshot by its reader."""


class ContextStore:
    """Load execution contexts (the engine writes them with its outcomes and events)."""

    def __init__(self, pool: Any, redis: aioredis.Redis) -> None:
        self._pool = pool
        self._redis = redis

    async def load(self, execution_id: str) -> dict[str, Any] | None:
        """The context from Redis, or restored from the snapshot; None if there is none."""
        try:
            fields: dict[Any, Any] = await self._redis.hgetall(context_key(execution_id))
        except RedisError:
            fields = {}
        context = _assembled(fields)
        if context is not None:
            return context
        snapshot = await self._pool.fetchval(
            "SELECT context FROM context_snapshots WHERE execution_id = $1", execution_id
        )
        if snapshot is None:
            return None
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                LiveContext.of(execution_id, snapshot).queue(pipe)
                await pipe.execute()
        except RedisError as exc:
            _log.warning("context not restored to redis: %s", type(exc).__name__)
        return dict(snapshot)
