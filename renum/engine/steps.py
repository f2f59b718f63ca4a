"""One step attempt, run against Suna exactly once, durably.

The protocol (suna-api.md, "Exactly-once starts"), each write in PostgreSQL
before the next call:

1. the attempt's row (``step_runs``), with its prompt;
2. create a thread, record ``suna_thread_id``;
3. add the prompt as a user message, record ``message_added``;
4. check the lease is still ours, start the agent, record ``suna_run_id``;
5. wait for the run by streaming; read answer and usage; record the outcome.

A worker that takes an attempt over resumes from what is recorded: a thread
without a run id is first asked for its runs (``list_thread_runs``), and a run
found there is re-attached, never started again. Errors that may or may not
have reached Suna are resolved the same way before any new start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import dsl
from renum import metrics
from renum.engine.leases import still_holds
from renum.errors import CredentialError
from renum.events import EventLog, record
from renum.keys import KeyRing
from renum.usage import UsageLedger
from renum.vault import open_keys, services_of
from suna_client import (
    AgentStartRequest,
    RunResult,
    SunaCircuitOpenError,
    SunaClient,
    SunaConnectionError,
    SunaError,
    SunaForbiddenError,
    SunaNotFoundError,
    SunaPaymentRequiredError,
    SunaRateLimitedError,
    SunaServerError,
    SunaTimeoutError,
)

__all__ = ["AttemptOutcome", "Execution", "LeaseLostError", "StepRunner"]

_log = logging.getLogger("renum.engine.steps")
T = TypeVar("T")

#: Waits between tries of a transient Suna failure inside one attempt.
TRANSIENT_BACKOFF_S = (0.2, 0.5, 1.0, 2.0, 5.0)
#: Longest wait between start tries while Suna's parallel-run limit is reached.
RATE_LIMIT_MAX_WAIT_S = 2.0
#: Longest wait for a stopped run to settle before its usage is read.
STOP_SETTLE_S = 3.0
#: Longest answer kept in an event (the full answer is in step_runs).
EVENT_ANSWER_CHARS = 16_000
_TRANSIENT = (SunaConnectionError, SunaTimeoutError, SunaServerError, SunaCircuitOpenError,
              SunaRateLimitedError)  # fmt: skip


class LeaseLostError(Exception):
    """This worker no longer holds the execution's lease: stop touching it."""


@dataclass(frozen=True)
class Execution:
    """What a step attempt needs to know about its execution."""

    id: str
    user_id: str
    team_id: str
    initial_prompt: str


@dataclass(frozen=True)
class AttemptOutcome:
    """How an attempt ended."""

    status: Literal["completed", "failed", "cancelled"]
    result: dsl.StepResult | None = None
    error: dict[str, Any] | None = None
    retryable: bool = False


def _error(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"code": code, "message": message[:2000], **extra}


def _suna_error(exc: SunaError) -> dict[str, Any]:
    status = getattr(exc, "status", None)
    return _error(f"suna_{type(exc).__name__.removeprefix('Suna').removesuffix('Error').lower()}",
                  str(exc), suna_status=status, request_id=exc.request_id)  # fmt: skip


class StepRunner:
    """Runs step attempts for one worker."""

    def __init__(
        self, pool: Any, events: EventLog, suna: SunaClient, ledger: UsageLedger, worker_id: str,
        *, key_ring: KeyRing | None = None,
    ) -> None:  # fmt: skip
        self._pool = pool
        self._events = events
        self._suna = suna
        self._ledger = ledger
        self._worker_id = worker_id
        self._key_ring = key_ring

    async def run_attempt(
        self,
        ex: Execution,
        step: dsl.PlanStep,
        attempt: int,
        prompt: str,
        *,
        keys: dict[str, str] | None = None,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> AttemptOutcome:
        """Run (or resume) one attempt to its end and record the outcome."""
        row = await self._open(ex, step, attempt, prompt)
        started = row["started_at"] or datetime.now(UTC)
        deadline = (
            time.monotonic()
            + step.options.timeout_s
            - (datetime.now(UTC) - started).total_seconds()
        )
        try:
            run_id, thread_id = await self._ensure_run(ex, step, attempt, row, deadline, keys)
        except SunaError as exc:
            outcome = AttemptOutcome("failed", error=_suna_error(exc), retryable=_retryable(exc))
            return await self._finish(ex, step, attempt, None, None, outcome)
        except CredentialError as exc:  # names the service and master key id, never a value
            outcome = AttemptOutcome("failed", error=_error("credential_error", exc.detail))
            return await self._finish(ex, step, attempt, None, None, outcome)
        try:
            result = await self._wait(run_id, deadline)
            final = result.status
            run_error = result.run.error
        except SunaTimeoutError:
            await self._stop_quietly(run_id)
            final, run_error = "timeout", None
        except SunaError as exc:  # the run exists; report and let the retry policy decide
            await self._stop_quietly(run_id)  # a retry must not leave it running, unrecorded
            await self._record_usage_and_answer(ex, step, attempt, run_id, thread_id)
            return await self._finish(ex, step, attempt, run_id, thread_id, AttemptOutcome(
                "failed", error=_suna_error(exc), retryable=True))  # fmt: skip
        answer = await self._record_usage_and_answer(ex, step, attempt, run_id, thread_id)
        if final == "completed":
            outcome = AttemptOutcome("completed", result=dsl.parse_result(answer or ""))
        elif final == "timeout":
            outcome = AttemptOutcome(
                "failed",
                error=_error("step_timeout", f"no answer within {step.options.timeout_s:g} s"),
                retryable=True,
            )
        elif final == "stopped" and cancelled():
            outcome = AttemptOutcome("cancelled", error=_error("cancelled", "execution cancelled"))
        else:
            message = run_error or f"the agent run ended {final}"
            billing = "billing" in message.lower()
            outcome = AttemptOutcome(
                "failed", error=_error(f"run_{final}", message), retryable=not billing
            )
        return await self._finish(ex, step, attempt, run_id, thread_id, outcome)

    async def _wait(self, run_id: str, deadline: float) -> RunResult:
        """Wait for the run (streaming) until the step's deadline.

        The run lives in Suna whatever happens to our connection: Suna being
        unreachable for a while (connection errors, 5xx, 429, an open breaker)
        is waited out, never counted as the step failing.
        """
        failures = 0
        while True:
            try:
                return await self._suna.wait_for_run(
                    run_id, timeout_s=max(0.0, deadline - time.monotonic())
                )
            except _TRANSIENT as exc:
                pause = getattr(exc, "retry_in_s", None) or getattr(exc, "retry_after", None)
                pause = pause or TRANSIENT_BACKOFF_S[min(failures, len(TRANSIENT_BACKOFF_S) - 1)]
                failures += 1
                if time.monotonic() + pause >= deadline:
                    raise SunaTimeoutError(
                        f"run {run_id} not confirmed over before the step timeout",
                        request_sent=True) from exc  # fmt: skip
                _log.warning("waiting for run %s: %s; waiting on", run_id, type(exc).__name__)
                await asyncio.sleep(pause)

    async def _open(self, ex: Execution, step: dsl.PlanStep, attempt: int, prompt: str) -> Any:
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                """INSERT INTO step_runs (execution_id, step_id, attempt, status, agent_id,
                                          prompt, worker_id, started_at)
                   VALUES ($1, $2, $3, 'running', $4, $5, $6, now())
                   ON CONFLICT (execution_id, step_id, attempt)
                   DO UPDATE SET worker_id = EXCLUDED.worker_id, updated_at = now()
                   RETURNING *, (xmax = 0) AS inserted""",
                ex.id, step.id, attempt, step.agent_id, prompt, self._worker_id,
            )  # fmt: skip
            if row["inserted"]:
                event = await record(conn, ex.id, "step_started", {
                    "step_id": step.id, "agent_id": step.agent_id, "attempt": attempt})  # fmt: skip
        if row["inserted"]:
            await self._events.publish([event])
        return row

    async def _ensure_run(
        self, ex: Execution, step: dsl.PlanStep, attempt: int, row: Any, deadline: float,
        keys: dict[str, str] | None,
    ) -> tuple[str, str]:  # fmt: skip
        key = (ex.id, step.id, attempt)
        if row["suna_run_id"]:
            return row["suna_run_id"], row["suna_thread_id"]
        thread_id: str | None = row["suna_thread_id"]
        resumed = thread_id is not None
        if thread_id is None:
            created = await self._transient(
                lambda: self._suna.create_thread(f"renum {ex.id} {step.id} #{attempt}"), deadline
            )
            thread_id = created.thread_id
            await self._pool.execute(
                """UPDATE step_runs SET suna_thread_id = $4, suna_project_id = $5,
                          updated_at = now()
                    WHERE execution_id = $1 AND step_id = $2 AND attempt = $3""",
                *key, thread_id, created.project_id,
            )  # fmt: skip
        if resumed:
            runs = await self._transient(lambda: self._suna.list_thread_runs(thread_id), deadline)
            if runs:
                return await self._adopt(key, runs[0].id), thread_id
        if not row["message_added"]:
            await self._add_message(key, thread_id, row["prompt"], resumed, deadline)
        return await self._start(key, ex, step, thread_id, deadline, keys), thread_id

    async def _add_message(
        self, key: tuple[str, str, int], thread_id: str, prompt: str, resumed: bool,
        deadline: float,
    ) -> None:  # fmt: skip
        async def add() -> None:
            if resumed or tries:  # a message may already be there: never add the prompt twice
                rows = await self._suna.get_messages(thread_id, order="asc")
                if any(r.type == "user" for r in rows):
                    return
            tries.append(1)
            await self._suna.add_message(thread_id, prompt)

        tries: list[int] = []
        await self._transient(add, deadline)
        await self._pool.execute(
            """UPDATE step_runs SET message_added = true, updated_at = now()
                WHERE execution_id = $1 AND step_id = $2 AND attempt = $3""",
            *key,
        )

    async def _start(
        self, key: tuple[str, str, int], ex: Execution, step: dsl.PlanStep, thread_id: str,
        deadline: float, keys: dict[str, str] | None,
    ) -> str:  # fmt: skip
        request = AgentStartRequest(agent_id=step.agent_id, model_name=step.options.model)
        waited = False
        limited = 0
        while True:
            async with self._pool.acquire() as conn:
                if not await still_holds(conn, ex.id, self._worker_id):
                    raise LeaseLostError(ex.id)
            try:
                started = await self._suna.start_agent(
                    thread_id, request, extra_keys=await self._user_keys(ex, keys)
                )
                return await self._adopt(key, started.agent_run_id)
            except SunaRateLimitedError as exc:  # the parallel-run limit: queue, don't fail
                if not waited:
                    waited = True
                    await self._events.emit(ex.id, "step_waiting", {
                        "step_id": step.id, "reason": "suna_parallel_run_limit",
                        "running_count": exc.running_count, "limit": exc.limit})  # fmt: skip
                pause = exc.retry_after or _limit_backoff(limited)
                limited += 1
            except SunaCircuitOpenError:
                pause = 1.0
            except (SunaConnectionError, SunaTimeoutError, SunaServerError) as exc:
                if getattr(exc, "request_sent", True):  # it may have reached Suna
                    runs = await self._transient(
                        lambda: self._suna.list_thread_runs(thread_id), deadline
                    )
                    if runs:  # the start did reach Suna: adopt, never start again
                        return await self._adopt(key, runs[0].id)
                pause = 0.5
            if time.monotonic() + pause > deadline:
                raise SunaTimeoutError(
                    f"could not start the agent within the step timeout "
                    f"({step.options.timeout_s:g} s)",
                    request_sent=False,
                )
            await asyncio.sleep(pause)

    async def _user_keys(self, ex: Execution, keys: dict[str, str] | None) -> dict[str, str]:
        """The keys to forward on this one request: every key the user stores, decrypted now.

        All of them, not only the step's ``requires_keys``: the agent's tools and
        its model's provider may each need one, and Suna picks what it uses. The
        plaintexts live in the request's headers and nowhere else.
        """
        if keys is not None or self._key_ring is None:
            return dict(keys or {})
        return await open_keys(self._pool, self._key_ring, ex.user_id)

    async def _adopt(self, key: tuple[str, str, int], run_id: str) -> str:
        await self._pool.execute(
            """UPDATE step_runs SET suna_run_id = $4, updated_at = now()
                WHERE execution_id = $1 AND step_id = $2 AND attempt = $3""",
            *key, run_id,
        )  # fmt: skip
        return run_id

    async def _transient(self, op: Callable[[], Awaitable[T]], deadline: float) -> T:
        """Run ``op``, trying again on transient Suna failures until the deadline."""
        for pause in (*TRANSIENT_BACKOFF_S, None):
            try:
                return await op()
            except _TRANSIENT as exc:
                retry_after = getattr(exc, "retry_after", None) or pause
                if pause is None or time.monotonic() + (retry_after or 0) > deadline:
                    raise
                await asyncio.sleep(retry_after or 0)
        raise AssertionError("unreachable")

    async def _record_usage_and_answer(
        self, ex: Execution, step: dsl.PlanStep, attempt: int, run_id: str, thread_id: str
    ) -> str | None:
        try:
            output = await self._transient(
                lambda: self._suna.run_output(thread_id), time.monotonic() + 30
            )
        except SunaError as exc:
            _log.warning("could not read the output of run %s: %s", run_id, type(exc).__name__)
            return None
        await self._ledger.record(
            run_id, user_id=ex.user_id, team_id=ex.team_id, execution_id=ex.id, step_id=step.id,
            attempt=attempt, agent_id=step.agent_id, usage=output.usage,
            user_key_services=await services_of(self._pool, ex.user_id),
        )  # fmt: skip
        return output.answer

    async def _stop_quietly(self, run_id: str) -> None:
        try:
            await self._suna.stop_run(run_id)
        except SunaError as exc:
            _log.warning("could not stop run %s: %s", run_id, type(exc).__name__)

    async def stop_attempt(self, execution_id: str, step_id: str) -> None:
        """Stop whatever Suna runs the step's latest attempt has (cancel)."""
        row = await self._pool.fetchrow(
            """SELECT suna_thread_id, suna_run_id FROM step_runs
                WHERE execution_id = $1 AND step_id = $2 ORDER BY attempt DESC LIMIT 1""",
            execution_id, step_id,
        )  # fmt: skip
        if row is None:
            return
        # Only runs Suna says are running: its stop route marks even a finished run stopped.
        run_ids: set[str] = set()
        try:
            if row["suna_thread_id"]:
                runs = await self._suna.list_thread_runs(row["suna_thread_id"])
                run_ids = {r.id for r in runs if not r.is_terminal}
            elif row["suna_run_id"]:
                run = await self._suna.get_run(row["suna_run_id"])
                run_ids = set() if run.is_terminal else {run.id}
        except SunaError as exc:
            _log.warning("could not list the runs of step %s: %s", step_id, type(exc).__name__)
        await asyncio.gather(*(self._stop_quietly(r) for r in run_ids))

    async def record_stopped_usage(self, ex: Execution, step: dsl.PlanStep) -> None:
        """Record the usage of the step's latest run once it is stopped (cancel, fail-fast).

        A stopped run cost tokens too; the ledger's unique run id keeps it to one row.
        """
        row = await self._pool.fetchrow(
            """SELECT attempt, suna_thread_id, suna_run_id FROM step_runs
                WHERE execution_id = $1 AND step_id = $2 AND suna_run_id IS NOT NULL
                ORDER BY attempt DESC LIMIT 1""",
            ex.id, step.id,
        )  # fmt: skip
        if row is None:
            return
        with contextlib.suppress(SunaError):  # let the stop land, then read the final usage
            await self._suna.wait_for_run(row["suna_run_id"], timeout_s=STOP_SETTLE_S)
        await self._record_usage_and_answer(
            ex, step, row["attempt"], row["suna_run_id"], row["suna_thread_id"]
        )

    async def _finish(
        self, ex: Execution, step: dsl.PlanStep, attempt: int, run_id: str | None,
        thread_id: str | None, outcome: AttemptOutcome,
    ) -> AttemptOutcome:  # fmt: skip
        result = outcome.result
        async with self._pool.acquire() as conn, conn.transaction():
            duration_s = await conn.fetchval(
                """UPDATE step_runs SET status = $4, answer = $5, output = $6, error = $7,
                          finished_at = now(), updated_at = now()
                    WHERE execution_id = $1 AND step_id = $2 AND attempt = $3
                RETURNING extract(epoch FROM finished_at - started_at)::float8""",
                ex.id, step.id, attempt, outcome.status,
                result.text if result else None,
                {"data": result.data} if result and result.has_data else None,
                {**outcome.error, "retryable": outcome.retryable} if outcome.error else None,
            )  # fmt: skip
            events = []
            base = {"step_id": step.id, "attempt": attempt, "suna_run_id": run_id}
            if result is not None:
                events.append(await record(conn, ex.id, "step_output", {
                    **base, "answer": result.text[:EVENT_ANSWER_CHARS],
                    "truncated": len(result.text) > EVENT_ANSWER_CHARS,
                    "output": result.data if result.has_data else None}))  # fmt: skip
            kind = {"completed": "step_completed", "failed": "step_failed",
                    "cancelled": "step_cancelled"}[outcome.status]  # fmt: skip
            will_retry = (outcome.status == "failed" and outcome.retryable
                          and attempt < step.options.retry.max_attempts)  # fmt: skip
            events.append(await record(conn, ex.id, kind, {
                **base, "error": outcome.error, "will_retry": will_retry}))  # fmt: skip
        await self._events.publish(events)
        if duration_s is not None:
            metrics.STEP_DURATION.labels(outcome.status).observe(max(0.0, duration_s))
        return outcome


def _limit_backoff(times: int) -> float:
    """Wait before trying a start again after Suna's parallel-run limit (no Retry-After)."""
    return float(min(RATE_LIMIT_MAX_WAIT_S, 0.1 * 2**times) * random.uniform(0.75, 1.25))


def _retryable(exc: SunaError) -> bool:
    return not isinstance(
        exc, SunaPaymentRequiredError | SunaForbiddenError | SunaNotFoundError
    ) or isinstance(exc, SunaRateLimitedError)
