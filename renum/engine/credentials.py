"""Credentials asked at run time: a step that requires keys the user lacks waits for them.

When a step with ``requires_keys`` is due and the user has no key for one of
those services, the execution goes ``waiting_for_credentials`` and a
``credential_request`` event (service, step, reason) is emitted per missing
service. The step then waits — other steps keep running — until the keys are
there, and the execution goes back to ``running`` with a
``credentials_provided`` event.

Wake-ups: ``PUT /v1/keys/{service}`` publishes the user id on Redis
(:data:`~renum.redis_keys.KEYS_CHANNEL`); every worker's listener calls
:meth:`CredentialGate.notify` on that user's drivers, and each worker
heartbeat does too, so a lost pub/sub message costs one heartbeat, never the
wait (for a parked execution, one sweep: renum.dispatch.promote_due). Each
wake-up re-checks PostgreSQL, the only source of truth.

After ``RENUM_CREDENTIAL_WAIT_S`` (counted from the first request of this
attempt, also across a take-over) the step fails with
``credentials_timeout`` and the execution fails with the same code.

An execution whose every running step waits here holds no worker slot for
the wait: its driver *parks* it (renum.dispatch) until the keys are stored
or the wait ends, and a worker picks it up again then; the wait is counted
from the first request all the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from typing import Any

import dsl
from renum.engine.steps import AttemptOutcome
from renum.events import EventLog, record
from renum.vault import services_of

__all__ = ["CredentialGate", "refuse_attempt"]


class CredentialGate:
    """Holds the steps of one execution until the keys they require are stored."""

    def __init__(self, pool: Any, events: EventLog, execution_id: str, user_id: str,
                 worker_id: str, wait_s: float) -> None:  # fmt: skip
        self._pool = pool
        self._events = events
        self._execution_id = execution_id
        self._user_id = user_id
        self._worker_id = worker_id
        self._wait_s = wait_s
        self._changed = asyncio.Event()
        self._waiting: dict[str, tuple[frozenset[str], float]] = {}  # step: (keys, deadline)
        self._resumed = False  # driven again while it was waiting for credentials
        self.began_waiting = asyncio.Event()
        """Set each time a step begins waiting (the driver may park the execution)."""
        self.failure: dict[str, Any] | None = None
        """The execution's error once a step gave up waiting (``credentials_timeout``)."""

    @property
    def waiting(self) -> frozenset[str]:
        """The steps waiting for keys now."""
        return frozenset(self._waiting)

    def wait_ends(self) -> float:
        """When (``time.monotonic``) the first of the waiting steps gives up."""
        return min(deadline for _keys, deadline in self._waiting.values())

    async def any_provided(self) -> bool:
        """Whether a waiting step has all its keys now (one stored as the wait was parked)."""
        stored = await services_of(self._pool, self._user_id)
        return any(keys <= stored for keys, _deadline in self._waiting.values())

    def notify(self) -> None:
        """The user's keys may have changed: every waiting step re-checks."""
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def resume(self) -> None:
        """On take-over (or after parking): back to ``running``; steps still lacking keys
        will say so again, those whose keys came say ``credentials_provided``."""
        self._resumed = True
        await self._pool.execute(
            """UPDATE executions SET status = 'running', updated_at = now()
                WHERE id = $1 AND status = 'waiting_for_credentials' AND lease_owner = $2""",
            self._execution_id, self._worker_id,
        )  # fmt: skip

    async def admit(self, step: dsl.PlanStep, attempt: int) -> AttemptOutcome | None:
        """Return None once the step's required keys are stored, or its failed outcome."""
        required = frozenset(step.options.requires_keys)
        if not required:
            return None
        changed = self._changed
        missing = required - await services_of(self._pool, self._user_id)
        if not missing or await self._attempt_began(step, attempt):
            if not missing and self._resumed and await self._requested(step, attempt):
                await self._provided(step, attempt)  # they came while it was parked
            return None  # (a take-over re-attaches to an attempt that began with its keys)
        waited_s = await self._start_waiting(step, attempt, missing)
        deadline = time.monotonic() + self._wait_s - waited_s
        self._waiting[step.id] = (required, deadline)
        self.began_waiting.set()
        try:
            while missing:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return await self._give_up(step, attempt, missing)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), remaining)
                changed = self._changed
                missing = required - await services_of(self._pool, self._user_id)
        finally:
            self._waiting.pop(step.id, None)
        await self._provided(step, attempt)
        return None

    async def _provided(self, step: dsl.PlanStep, attempt: int) -> None:
        await self._set_status("credentials_provided", {
            "step_id": step.id, "attempt": attempt,
            "services": sorted(step.options.requires_keys)})  # fmt: skip

    async def _requested(self, step: dsl.PlanStep, attempt: int) -> bool:
        return bool(await self._pool.fetchval(
            """SELECT EXISTS (SELECT 1 FROM execution_events
                               WHERE execution_id = $1 AND type = 'credential_request'
                                 AND data->>'step_id' = $2 AND (data->>'attempt')::int = $3)""",
            self._execution_id, step.id, attempt))  # fmt: skip

    async def _attempt_began(self, step: dsl.PlanStep, attempt: int) -> bool:
        return bool(await self._pool.fetchval(
            """SELECT EXISTS (SELECT 1 FROM step_runs WHERE execution_id = $1
                                 AND step_id = $2 AND attempt = $3)""",
            self._execution_id, step.id, attempt))  # fmt: skip

    async def _start_waiting(self, step: dsl.PlanStep, attempt: int, missing: frozenset[str]
                             ) -> float:  # fmt: skip
        """Mark the execution waiting and ask for the keys; return seconds waited so far."""
        self._waiting[step.id] = (frozenset(step.options.requires_keys), math.inf)
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """UPDATE executions SET status = 'waiting_for_credentials', updated_at = now()
                    WHERE id = $1 AND status = 'running' AND lease_owner = $2""",
                self._execution_id, self._worker_id,
            )  # fmt: skip
            waited = await conn.fetchval(
                """SELECT extract(epoch FROM now() - min(created_at)) FROM execution_events
                    WHERE execution_id = $1 AND type = 'credential_request'
                      AND data->>'step_id' = $2 AND (data->>'attempt')::int = $3""",
                self._execution_id, step.id, attempt,
            )  # fmt: skip
            events = []
            if waited is None:  # a take-over re-uses the requests already made
                for service in sorted(missing):
                    events.append(await record(conn, self._execution_id, "credential_request", {
                        "service": service, "step_id": step.id, "agent_id": step.agent_id,
                        "attempt": attempt, "wait_s": self._wait_s,
                        "reason": f"step {step.id} requires a {service!r} key; store it with "
                                  f"PUT /v1/keys/{service}"}))  # fmt: skip
        await self._events.publish(events)
        return float(waited or 0.0)

    async def _set_status(self, kind: str, data: dict[str, Any]) -> None:
        """Back to ``running`` once no step waits any more, with an event saying why."""
        async with self._pool.acquire() as conn, conn.transaction():
            if not self._waiting:
                await conn.execute(
                    """UPDATE executions SET status = 'running', updated_at = now()
                        WHERE id = $1 AND status = 'waiting_for_credentials'
                          AND lease_owner = $2""",
                    self._execution_id, self._worker_id,
                )  # fmt: skip
            event = await record(conn, self._execution_id, kind, data)
        await self._events.publish([event])

    async def _give_up(self, step: dsl.PlanStep, attempt: int, missing: frozenset[str]
                       ) -> AttemptOutcome:  # fmt: skip
        services = sorted(missing)
        error = {
            "code": "credentials_timeout",
            "message": f"step {step.id} waited {self._wait_s:g} s for a key for "
                       f"{', '.join(services)} that was not stored",
            "step_id": step.id, "services": services,
        }  # fmt: skip
        self.failure = self.failure or error
        outcome = await refuse_attempt(self._pool, self._events, self._execution_id, step,
                                       attempt, error)  # fmt: skip
        self._waiting.pop(step.id, None)
        await self._set_status("credentials_timeout", {"step_id": step.id,
                                                      "services": services})  # fmt: skip
        return outcome


async def refuse_attempt(pool: Any, events: EventLog, execution_id: str, step: dsl.PlanStep,
                         attempt: int, error: dict[str, Any]) -> AttemptOutcome:  # fmt: skip
    """Fail an attempt that must not start (its row and ``step_failed``; no retry)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """INSERT INTO step_runs (execution_id, step_id, attempt, status, agent_id,
                                      error, finished_at)
               VALUES ($1, $2, $3, 'failed', $4, $5, now())
               ON CONFLICT (execution_id, step_id, attempt) DO UPDATE
                  SET status = 'failed', error = EXCLUDED.error, finished_at = now(),
                      updated_at = now()""",
            execution_id, step.id, attempt, step.agent_id, {**error, "retryable": False},
        )  # fmt: skip
        event = await record(conn, execution_id, "step_failed", {
            "step_id": step.id, "attempt": attempt, "suna_run_id": None, "error": error,
            "will_retry": False})  # fmt: skip
    await events.publish([event])
    return AttemptOutcome("failed", error=error, retryable=False)
