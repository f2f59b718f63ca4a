"""The simulator's store: threads, their messages, runs and their responses.

A run keeps the JSON lines its stream replays (Suna's Redis list, or in
``v1`` a Redis Stream whose entries carry ids) and an ``asyncio.Event``
swapped on every change, so that any number of streams wait on it without
polling.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .faults import RunFaults

__all__ = ["FINAL_STATUSES", "Clock", "Entry", "SimRun", "SimThread"]

FINAL_STATUSES = frozenset({"completed", "failed", "stopped"})


class Clock:
    """ISO timestamps that strictly increase, so that row order is never a tie."""

    def __init__(self) -> None:
        self._last = datetime.min.replace(tzinfo=UTC)

    def now(self) -> str:
        """The current UTC time, ISO format, later than any earlier answer."""
        now = datetime.now(UTC)
        if now <= self._last:
            now = self._last + timedelta(microseconds=1)
        self._last = now
        return now.isoformat()


@dataclass(frozen=True, slots=True)
class Entry:
    """One response of a run: its stream id (``v1``), JSON line, and whether it is final."""

    event_id: str
    line: str
    final: bool


@dataclass(eq=False)
class SimThread:
    """A thread and its stored message rows (content/metadata as objects)."""

    thread_id: str
    project_id: str
    account_id: str
    name: str
    created_at: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)


@dataclass(eq=False)
class SimRun:
    """An agent run: its database row, its response list and its control signal."""

    id: str
    thread_id: str
    account_id: str
    agent_id: str
    """The Suna agent's UUID."""
    agent_name: str
    """Its script's name (what counters are keyed by)."""
    model: str
    """The model the run uses (requested, or the account's default)."""
    requested_model: str | None
    prompt: str
    created_at: str
    faults: RunFaults
    key_headers: dict[str, str] = field(default_factory=dict)
    ordinal: int = 0
    """The run's number in its simulator: seeds its deterministic choices."""
    status: str = "running"
    started_at: str | None = None
    completed_at: str | None = None
    updated_at: str | None = None
    error: str | None = None
    responses: list[Entry] = field(default_factory=list)
    visible_at: float = 0.0
    """``time.monotonic()`` from which the run's row exists (``v1`` writes it late)."""
    picked_up: bool = False
    """Whether a worker has picked the run up (a lax stop before that is lost)."""
    stop_lost: bool = False
    """A lax stop came before pick-up: the run goes on and its final write wins."""
    event_ids: bool = False
    """Whether responses are Redis Stream entries with ids (``v1``)."""
    closing: frozenset[str] = FINAL_STATUSES
    """Statuses after which the run's streams close (``v1`` adds ``error``)."""
    control: str | None = None
    done_wall: float | None = None
    """``time.time()`` when the run's final status was written."""
    stream_cuts: int = 0
    task: asyncio.Task[None] | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def _notify(self) -> None:
        event, self.changed = self.changed, asyncio.Event()
        event.set()

    @property
    def visible(self) -> bool:
        """Whether the run's row has been written."""
        return time.monotonic() >= self.visible_at

    def _next_id(self) -> str:
        """A Redis Stream entry id (``<ms>-<seq>``), later than every earlier one."""
        ms = int(time.time() * 1000)
        last = self.responses[-1].event_id if self.responses else ""
        if last:
            last_ms, _, last_seq = last.partition("-")
            if ms <= int(last_ms):
                return f"{last_ms}-{int(last_seq) + 1}"
        return f"{ms}-0"

    def push(self, response: dict[str, Any]) -> None:
        """Append a response to the run's list and wake its streams.

        In a Redis Stream (``v1``) the event gets its entry id as ``_event_id``.
        """
        final = response.get("type") == "status" and response.get("status") in self.closing
        event_id = ""
        if self.event_ids:
            event_id = self._next_id()
            response = {**response, "_event_id": event_id}
        self.responses.append(Entry(event_id, json.dumps(response), final))
        self._notify()

    def finish(self, status: str, now: str, *, error: str | None, control: str) -> None:
        """Write the final status (as Suna's database does) and signal the streams."""
        self.status = status
        self.completed_at = now
        self.updated_at = now
        if error is not None:
            self.error = error
        if self.done_wall is None:
            self.done_wall = time.time()
        self.control = control
        self._notify()

    def camel(self) -> dict[str, Any]:
        """``GET /api/agent-run/{rid}``: camelCase, as Suna answers it."""
        return {
            "id": self.id,
            "threadId": self.thread_id,
            "status": self.status,
            "startedAt": self.started_at,
            "completedAt": self.completed_at,
            "error": self.error,
        }

    def row(self) -> dict[str, Any]:
        """An item of ``GET /api/thread/{tid}/agent-runs``: snake_case."""
        return {
            "id": self.id,
            "thread_id": self.thread_id,
            "status": self.status,
            "started_at": self.started_at,
            "completed_at": self.completed_at,
            "error": self.error,
            "created_at": self.created_at,
            "updated_at": self.updated_at or self.created_at,
        }

    def info(self) -> dict[str, Any]:
        """Everything a test may want to know about the run (admin route)."""
        return {
            **self.row(),
            "account_id": self.account_id,
            "agent_id": self.agent_id,
            "agent_name": self.agent_name,
            "model": self.model,
            "requested_model": self.requested_model,
            "prompt": self.prompt,
            "key_headers": dict(self.key_headers),
            "responses": len(self.responses),
            "stream_cuts": self.stream_cuts,
            "done_ts": self.done_wall,
        }
