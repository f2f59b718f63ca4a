"""Per-execution events: PostgreSQL is the audit trail, a Redis stream the live feed.

Events are numbered 1, 2, 3… per execution (the SSE ``id``). :func:`record`
writes one inside the caller's transaction, so an event exists exactly when the
state change it describes does; :meth:`EventLog.publish` then copies it to the
execution's Redis stream under the entry id ``0-<seq>``. Redis may lose the
stream (or miss a publish): :meth:`EventLog.follow` replays from PostgreSQL and
fills any gap it sees from there, so a follower never misses an event.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from renum.redis_keys import events_key

__all__ = [
    "EVENTS_APPENDED",
    "TERMINAL_EVENTS",
    "Event",
    "EventLog",
    "RedisWrite",
    "append_events_sql",
    "events_appended",
    "insert_events_sql",
    "record",
]

_log = logging.getLogger("renum.events")

#: Events after which an execution's stream ends.
TERMINAL_EVENTS = frozenset(
    {"execution_completed", "execution_failed", "execution_cancelled", "execution_budget_exceeded"}
)
#: Entries kept per execution stream (older ones are still in PostgreSQL).
STREAM_MAXLEN = 10_000
#: How long a finished execution's stream stays in Redis.
STREAM_TTL_S = 24 * 3600
#: While Redis is unreachable, followers re-read PostgreSQL this often.
REDIS_RETRY_S = 1.0
#: The longest one blocking read of a stream lasts: under the socket timeout of the
#: Redis client (redis-py's default is 5 s), past which a read fails as a timeout.
STREAM_BLOCK_MAX_S = 4.0


class RedisWrite(Protocol):
    """Writes that go to Redis in the same pipeline as events (context fields, counters)."""

    def queue(self, pipe: Any) -> None:
        """Add the commands to the pipeline."""

    async def settle(self, results: list[Any]) -> None:
        """Look at the replies of the commands ``queue`` added (errors are replies here)."""


@dataclass(frozen=True)
class Event:
    """One event of an execution."""

    execution_id: str
    seq: int
    type: str
    data: dict[str, Any]
    created_at: datetime

    @property
    def terminal(self) -> bool:
        """Whether this event ends the execution's stream."""
        return self.type in TERMINAL_EVENTS

    def to_json(self) -> dict[str, Any]:
        """The event as the API shows it."""
        return {
            "id": self.seq,
            "type": self.type,
            "execution_id": self.execution_id,
            "data": self.data,
            "ts": self.created_at.isoformat(),
        }


async def record(conn: Any, execution_id: str, type_: str, data: dict[str, Any]) -> Event:
    """Append an event in PostgreSQL (inside the caller's transaction, if any)."""
    row = await conn.fetchrow(
        """WITH s AS (UPDATE executions SET event_seq = event_seq + 1
                      WHERE id = $1 RETURNING event_seq)
           INSERT INTO execution_events (execution_id, seq, type, data)
           SELECT $1, event_seq, $2, $3 FROM s
           RETURNING seq, created_at""",
        execution_id,
        type_,
        data,
    )
    return Event(execution_id, row["seq"], type_, data, row["created_at"])


#: The columns a statement using :func:`append_events_sql` selects for :func:`events_appended`.
EVENTS_APPENDED = "(SELECT base FROM ev_seq) AS ev_base, (SELECT max(created_at) FROM ev) AS ev_at"


def append_events_sql(
    execution: str, types: str, datas: str, *, when: str = "true", also_set: str = ""
) -> str:
    """Two CTEs, ``ev_seq`` and ``ev``, that append events inside a larger statement.

    ``execution``, ``types`` (text[]) and ``datas`` (a jsonb array, the events'
    data in the same order: one parameter, encoded at once) are SQL expressions,
    usually parameters; ``when`` may make the append conditional on another CTE, and
    ``also_set`` adds assignments to the execution's update (its row is updated once).
    The statement should select :data:`EVENTS_APPENDED` for :func:`events_appended`.
    One statement then changes the state and records the events that describe
    it: one round trip and one commit, where :func:`record` in a transaction
    takes four. A statement that updates the execution's row itself (PostgreSQL
    lets one statement update a row once) bumps ``event_seq`` in that update,
    names it ``ev_seq`` with ``event_seq - n AS base``, and uses
    :func:`insert_events_sql` alone.
    """
    extra = f", {also_set}" if also_set else ""
    return f"""ev_seq AS (
          UPDATE executions SET event_seq = event_seq + cardinality({types}::text[]){extra}
           WHERE id = {execution} AND ({when})
       RETURNING event_seq - cardinality({types}::text[]) AS base),
       {insert_events_sql(execution, types, datas)}"""


def insert_events_sql(execution: str, types: str, datas: str) -> str:
    """The ``ev`` CTE: events numbered from ``ev_seq.base + 1`` (see append_events_sql)."""
    return f"""ev AS (
          INSERT INTO execution_events (execution_id, seq, type, data)
          SELECT {execution}, ev_seq.base + t.n, t.type, ({datas}::jsonb) -> (t.n::int - 1)
            FROM ev_seq, unnest({types}::text[]) WITH ORDINALITY AS t(type, n)
       RETURNING created_at)"""


def events_appended(
    execution_id: str, kinds: list[tuple[str, dict[str, Any]]], row: Any
) -> list[Event]:
    """The events an :func:`append_events_sql` statement recorded (none if it did not)."""
    if row["ev_base"] is None:
        return []
    base, at = row["ev_base"], row["ev_at"]
    return [Event(execution_id, base + n, t, d, at) for n, (t, d) in enumerate(kinds, 1)]


def _from_row(execution_id: str, row: Any) -> Event:
    return Event(execution_id, row["seq"], row["type"], row["data"], row["created_at"])


class EventLog:
    """Reads and publishes the events of executions."""

    def __init__(self, pool: Any, redis: aioredis.Redis, *, heartbeat_s: float = 15.0) -> None:
        self._pool = pool
        self._redis = redis
        self.heartbeat_s = heartbeat_s
        self._pending: list[Event | RedisWrite] = []
        self._queued = 0  # events ever queued for publishing
        self._taken = 0  # of those, taken by a sender
        self._send_lock = asyncio.Lock()

    async def emit(self, execution_id: str, type_: str, data: dict[str, Any]) -> Event:
        """Record an event on its own and publish it."""
        event = await record(self._pool, execution_id, type_, data)
        await self.publish([event])
        return event

    async def publish(self, events: Iterable[Event], *writes: RedisWrite | None) -> None:
        """Copy recorded events (and other writes) to Redis; trouble is logged, not raised.

        Concurrent publishers share round trips: whoever holds the lock sends every
        write queued so far in one pipeline, and a publisher whose writes went out
        with an earlier batch returns without a round trip of its own. Order is
        kept (one sender at a time, in queue order). A batch lost to a cancelled
        sender is only a missed copy: followers fill gaps from PostgreSQL, and the
        context is restored from its snapshot (and written whole when the execution ends).
        """
        mine: list[Event | RedisWrite] = list(events)
        mine.extend(w for w in writes if w is not None)
        if not mine:
            return
        self._pending.extend(mine)
        self._queued += len(mine)
        ticket = self._queued
        async with self._send_lock:
            if self._taken >= ticket:
                return  # sent with an earlier batch
            batch, self._pending = self._pending, []
            self._taken = self._queued
            await self._send(batch)

    async def _send(self, items: list[Event | RedisWrite]) -> None:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                writes: list[tuple[RedisWrite, int, int]] = []
                for item in items:
                    if not isinstance(item, Event):
                        start = len(pipe.command_stack)
                        item.queue(pipe)
                        writes.append((item, start, len(pipe.command_stack)))
                        continue
                    key = events_key(item.execution_id)
                    fields: dict[Any, Any] = {
                        "type": item.type,
                        "data": json.dumps(item.data),
                        "ts": item.created_at.isoformat(),
                    }
                    pipe.xadd(key, fields, id=f"0-{item.seq}", maxlen=STREAM_MAXLEN)
                    if item.terminal:
                        pipe.expire(key, STREAM_TTL_S)
                results = await pipe.execute(raise_on_error=False)
            for write, start, end in writes:
                await write.settle(results[start:end])
        except RedisError as exc:
            _log.warning("could not publish events to redis: %s", type(exc).__name__)

    async def since(self, execution_id: str, after_seq: int, limit: int = 1000) -> list[Event]:
        """Events with ``seq > after_seq`` from PostgreSQL, in order."""
        rows = await self._pool.fetch(
            """SELECT seq, type, data, created_at FROM execution_events
               WHERE execution_id = $1 AND seq > $2 ORDER BY seq LIMIT $3""",
            execution_id,
            after_seq,
            limit,
        )
        return [_from_row(execution_id, r) for r in rows]

    async def follow(self, execution_id: str, after_seq: int = 0) -> AsyncIterator[Event | None]:
        """Yield events after ``after_seq`` until the terminal one; ``None`` marks a heartbeat.

        Replays from PostgreSQL, then blocks on the Redis stream. A gap in the
        stream, a quiet heartbeat interval or a Redis error sends it back to
        PostgreSQL for whatever it has not seen.
        """
        last = after_seq
        while True:
            backlog = await self.since(execution_id, last)
            for event in backlog:
                yield event
                last = event.seq
                if event.terminal:
                    return
            if len(backlog) == 1000:
                continue
            arrived = await self._read_stream(execution_id, last)
            if arrived is None:
                yield None  # a quiet interval: heartbeat, then re-check PostgreSQL
                continue
            for event in arrived:
                if event.seq != last + 1:
                    break  # a gap: PostgreSQL fills it on the next turn
                yield event
                last = event.seq
                if event.terminal:
                    return

    async def _read_stream(self, execution_id: str, last: int) -> list[Event] | None:
        """Entries after ``last``, waiting up to the heartbeat interval; None if none came.

        One blocking read lasts at most :data:`STREAM_BLOCK_MAX_S`: a read that
        blocks past the Redis client's socket timeout is cut off as a timeout.
        """
        deadline = time.monotonic() + self.heartbeat_s
        while True:
            block_s = min(deadline - time.monotonic(), STREAM_BLOCK_MAX_S)
            if block_s <= 0:
                return None
            try:
                reply: Any = await self._redis.xread(
                    {events_key(execution_id): f"0-{last}"},
                    count=500,
                    block=max(1, int(block_s * 1000)),
                )
            except RedisError as exc:
                _log.warning("event stream read failed (%s); using PostgreSQL",
                             type(exc).__name__)  # fmt: skip
                await asyncio.sleep(REDIS_RETRY_S)
                return None
            if reply:
                break
        events = []
        for _key, entries in reply:
            for entry_id, fields in entries:
                seq = int(str(entry_id).split("-", 1)[1])
                events.append(
                    Event(
                        execution_id,
                        seq,
                        fields["type"],
                        json.loads(fields["data"]),
                        datetime.fromisoformat(fields["ts"]),
                    )
                )
        return events
