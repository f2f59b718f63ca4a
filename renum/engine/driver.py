"""Drives one execution to its end: the DSL's Scheduler decides, this module does the I/O.

The driver rebuilds the execution's state from PostgreSQL (so a take-over is
the same code path as a first run), asks ``Scheduler.decide``, records skips,
starts step tasks, and waits for any of them, a cancel request or the
workflow's deadline. Step tasks retry per the step's policy. Every outcome is
in PostgreSQL before the next decision.

A plan whose conditions scan fields (``contains``, ``matches``) is decided in
the worker's condition threads, off the event loop, so one execution's costly
conditions delay no other; a step whose condition is too costly to decide
(``Decision.fail``) is recorded failed with ``condition_too_costly``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any

import dsl
from renum import metrics
from renum.budgets import BudgetExceededError, BudgetGuard, Hold
from renum.context import LiveContext
from renum.engine.credentials import CredentialGate, refuse_attempt
from renum.engine.infra import is_infrastructure_error
from renum.engine.leases import driving_sql, finish_set_sql, started_data
from renum.engine.steps import (
    AttemptOutcome,
    Execution,
    Followup,
    LeaseLostError,
    Opened,
    Opening,
    StepRunner,
)
from renum.errors import CredentialError
from renum.estimates import ModelUnpricedError
from renum.events import EVENTS_APPENDED, EventLog, events_appended, insert_events_sql, record
from suna_client import SunaError

__all__ = ["DriverDeps", "ExecutionDriver"]

_log = logging.getLogger("renum.engine.driver")

#: A wait for keys that ends sooner than this is waited out in place, not parked.
PARK_MIN_S = 1.0

_FINAL_EVENT = {
    "completed": "execution_completed",
    "failed": "execution_failed",
    "cancelled": "execution_cancelled",
    "budget_exceeded": "execution_budget_exceeded",
}


@dataclass(frozen=True)
class DriverDeps:
    """What every driver of a worker shares."""

    pool: Any
    events: EventLog
    runner: StepRunner
    worker_id: str
    credential_wait_s: float = 3600.0
    """How long a step waits for keys it requires (RENUM_CREDENTIAL_WAIT_S)."""
    budgets: BudgetGuard | None = None
    """Reserves each attempt's estimated cost against the budgets (None: no budgets)."""
    conditions: Executor | None = None
    """Threads deciding plans whose conditions scan fields (None: asyncio's default)."""


class ExecutionDriver:
    """Drives one execution whose lease this worker holds."""

    def __init__(self, deps: DriverDeps, row: Any) -> None:
        self._deps = deps
        self._row = row
        self.execution_id = str(row["id"])
        self._plan = dsl.Plan.from_dict(row["plan"])
        self._scheduler = dsl.Scheduler(self._plan)
        self._ex = Execution(self.execution_id, row["user_id"], str(row["team_id"]),
                             row["initial_prompt"], self._scheduler.context_shape,
                             deps.runner.accounts.service,
                             dict(row["agents"] or {}))  # fmt: skip
        self._cancel = asyncio.Event()
        self._state: dict[str, dsl.StepState] = {}
        self._attempts: dict[str, int] = {}
        self._tasks: dict[str, asyncio.Task[AttemptOutcome]] = {}
        self._over_budget: dict[str, BudgetExceededError] = {}
        self._errors: dict[str, dict[str, Any]] = {}  # failed steps' errors
        self._completed = False  # a step's outcome statement completed the execution
        self._credentials = CredentialGate(deps.pool, deps.events, self.execution_id,
                                           self._ex.user_id, deps.worker_id,
                                           deps.credential_wait_s)  # fmt: skip
        # Only a workflow with steps that require keys can wait for them, and park.
        self._may_park = any(s.options.requires_keys for s in self._plan.steps)

    @property
    def user_id(self) -> str:
        """The execution's owner (whose stored keys its steps use)."""
        return self._ex.user_id

    def keys_changed(self) -> None:
        """The user stored a key (pub/sub) or a heartbeat passed: waiting steps re-check."""
        self._credentials.notify()

    async def fail(self, error: dict[str, Any]) -> str:
        """End the execution failed (a bug escaped the driver): stop its runs, record it."""
        return await self._stop_all("failed", error)

    def request_cancel(self) -> None:
        """A cancel was requested (API, pub/sub or heartbeat): stop at the next turn."""
        self._cancel.set()

    # --- the loop ------------------------------------------------------------

    async def run(self) -> str:
        """Drive to a final status and return it, or ``parked`` (cancelling this task
        releases nothing)."""
        try:
            return await self._run()
        finally:
            tasks = list(self._tasks.values())
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self) -> str:
        fresh = self._row["prior_status"] == "queued"  # never driven: it has no step_runs yet
        started_at = await self._mark_running()
        if self._row["suna_account"] == "user":
            refused = self._own_account()
            if refused is not None:
                return await self._stop_all("failed", refused)
        if self._row["status"] == "waiting_for_credentials":
            await self._credentials.resume()
        if not fresh:
            await self._load_state()
        if any(v.status == "completed" for v in self._state.values()):
            # A take-over: the snapshot has every completed step, but Redis may lack
            # the last one (its worker died between the two).
            await self._deps.events.publish([], LiveContext.of(self.execution_id,
                                                               self._context()))  # fmt: skip
        if self._row["cancel_requested"]:
            self._cancel.set()
        budget_s = self._plan.options.timeout_s - (datetime.now(UTC) - started_at).total_seconds()
        deadline = time.monotonic() + budget_s
        cancel_wait = asyncio.create_task(self._cancel.wait())
        try:
            while True:
                if self._completed:
                    metrics.EXECUTIONS.labels("completed").inc()
                    return "completed"
                if self._cancel.is_set():
                    return await self._stop_all("cancelled", None)
                if time.monotonic() >= deadline:
                    return await self._stop_all(
                        "failed",
                        {
                            "code": "execution_timeout",
                            "message": f"not finished within {self._plan.options.timeout_s:g} s",
                        },
                    )
                if self._over_budget:  # a step was refused: start nothing, let the rest end
                    if not self._tasks:
                        return await self._stop_over_budget()
                    await self._wait_for_steps(cancel_wait, deadline)
                    continue
                decision = await self._decide()
                if decision is None:  # the state moved while it was decided: again
                    continue
                if decision.fail:
                    await self._record_undecided(decision.fail)
                    continue
                if decision.skip:
                    await self._record_settled(decision.skip, "skipped")
                    continue
                if decision.cancel:
                    await self._cancel_steps(decision.cancel)
                    continue
                for step_id in decision.start:
                    self._spawn(step_id, 1)
                if decision.finished and not self._tasks:
                    assert decision.status is not None
                    error = (self._credentials.failure or self._failure_summary()
                             if decision.status == "failed" else None)  # fmt: skip
                    return await self._finalize(decision.status, error)
                if self._only_waiting_for_keys() and await self._park(deadline):
                    return "parked"
                await self._wait_for_steps(cancel_wait, deadline)
        finally:
            cancel_wait.cancel()

    async def _wait_for_steps(self, cancel_wait: asyncio.Task[Any], deadline: float) -> None:
        """Until a step ends, a cancel arrives or the deadline (or, in a workflow that may
        park, a step begins waiting for keys); then take in what ended."""
        waits: list[asyncio.Future[Any]] = [*self._tasks.values(), cancel_wait]
        if self._may_park:
            self._credentials.began_waiting.clear()
            waits.append(asyncio.ensure_future(self._credentials.began_waiting.wait()))
        await asyncio.wait(waits, timeout=max(0.0, deadline - time.monotonic()),
                           return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        if self._may_park:
            waits[-1].cancel()
        await self._collect()

    def _only_waiting_for_keys(self) -> bool:
        """Whether steps are running and every one of them waits for keys."""
        return (self._may_park and bool(self._tasks)
                and self._credentials.waiting >= set(self._tasks))  # fmt: skip

    async def _park(self, deadline: float) -> bool:
        """Every running step waits for keys: give the lease and the user's place up.

        The execution stays ``waiting_for_credentials`` in PostgreSQL, undispatched,
        until the first wait ends (or the execution's deadline): renum.dispatch hands
        it to a worker again then, or as soon as the user stores a key or cancels it.
        The waiting steps had begun nothing, so their tasks are simply dropped; each
        asks again when the execution is driven again, its wait counted from the
        first request. False (nothing changed) if a cancel came first, or the wait
        ends within PARK_MIN_S.
        """
        wait_ends = self._credentials.wait_ends()  # inf: a step's request is being written
        until_s = min(wait_ends, deadline) - time.monotonic()
        if wait_ends == math.inf or until_s < PARK_MIN_S:  # (or about to give up: stay)
            return False
        parked = await self._deps.pool.fetchval(
            """UPDATE executions
                  SET dispatched = false, parked_until = now() + make_interval(secs => $3),
                      lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
                WHERE id = $1 AND lease_owner = $2 AND status = 'waiting_for_credentials'
                  AND NOT cancel_requested
            RETURNING id""",
            self.execution_id, self._deps.worker_id, until_s,
        )  # fmt: skip
        if parked is None:
            return False
        if await self._credentials.any_provided():  # stored while it was parking: due now
            await self._deps.pool.execute(
                """UPDATE executions SET parked_until = now()
                    WHERE id = $1 AND NOT dispatched AND parked_until > now()""",
                self.execution_id)  # fmt: skip
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        _log.info("execution %s parked for up to %.0f s, waiting for keys",
                  self.execution_id, until_s)  # fmt: skip
        return True

    async def _collect(self) -> None:
        for step_id, task in list(self._tasks.items()):
            if not task.done():
                continue
            del self._tasks[step_id]
            try:
                outcome = task.result()
            except LeaseLostError:
                raise
            except Exception as exc:  # a bug must fail the step, not wedge the execution
                if is_infrastructure_error(exc):
                    raise  # PostgreSQL or Redis trouble: stop; a take-over resumes the step
                _log.exception("step %s of %s crashed", step_id, self.execution_id)
                outcome = AttemptOutcome("failed", error={
                    "code": "internal_error",
                    "message": f"Renum failed running this step ({type(exc).__name__}); "
                               "the worker's log has the traceback"})  # fmt: skip
                await self._deps.pool.execute(  # its row says so, not `running` (while ours)
                    f"""UPDATE step_runs SET status = 'failed', error = $3, finished_at = now(),
                               updated_at = now()
                         WHERE execution_id = $1 AND step_id = $2 AND status = 'running'
                           AND EXISTS (SELECT 1 FROM executions
                                        WHERE id = $1 AND {driving_sql("$4")})""",
                    self.execution_id, step_id, outcome.error, self._deps.worker_id,
                )  # fmt: skip
            await self._settle(step_id, outcome)

    async def _settle(self, step_id: str, outcome: AttemptOutcome) -> None:
        if outcome.status == "completed":
            self._state[step_id] = dsl.StepState("completed", outcome.result)
        elif outcome.status == "failed":
            self._errors[step_id] = outcome.error or {}
            self._state[step_id] = dsl.StepState("failed", error=self._errors[step_id].get(
                "message"))  # fmt: skip
        else:
            self._state[step_id] = dsl.StepState("cancelled")

    def _own_account(self) -> dict[str, Any] | None:
        """Call Suna as the user's own account (chosen at launch); the error if it cannot be."""
        sealed = self._row["suna_key_sealed"]
        if sealed is None:
            return {"code": "suna_key_missing", "message":
                    "this execution runs as your own Suna account (you had stored its key "
                    "when it was launched), but that key was deleted or replaced since (a "
                    "new key may be another account's, whose threads are not this "
                    "execution's): store the key with PUT /v1/keys/suna and launch again"}
        try:
            account = self._deps.runner.accounts.of_sealed(self._ex.user_id, sealed)
        except CredentialError as exc:  # names the master key id, never a value
            return {"code": "credential_error", "message": exc.detail}
        self._ex = replace(self._ex, account=account)
        return None

    # --- steps ---------------------------------------------------------------

    def _spawn(
        self, step_id: str, attempt: int, *, resumed: bool = False, opened: Opened | None = None
    ) -> None:
        self._state[step_id] = dsl.StepState("running")
        self._tasks[step_id] = asyncio.create_task(
            self._step(self._plan.step(step_id), attempt, resumed=resumed, opened=opened),
            name=f"{self.execution_id}:{step_id}",
        )

    async def _step(
        self, step: dsl.PlanStep, attempt: int, *, resumed: bool = False,
        opened: Opened | None = None,
    ) -> AttemptOutcome:  # fmt: skip
        """Run attempts of a step until one completes or the retry policy gives up.

        Each new attempt first reserves its estimated cost against the budgets (an
        attempt resumed after a take-over has already started: it reserves nothing;
        one ``opened`` by the step before it was admitted and reserved then). One
        whose model has no price, under a budget, fails without starting.
        """
        while True:
            hold: Hold | None = None
            if opened is not None:
                prompt, hold = opened.opening.prompt, opened.opening.hold
            else:
                waited = await self._credentials.admit(step, attempt)
                if waited is not None:  # the keys it requires never came
                    self._attempts[step.id] = attempt
                    return waited
                prompt = dsl.render_prompt(step, self._context())
                if not resumed:
                    try:
                        hold = await self._reserve(step, prompt)
                    except BudgetExceededError as exc:
                        self._over_budget.setdefault(step.id, exc)
                        return AttemptOutcome("cancelled", error=exc.to_json())
                    except ModelUnpricedError as exc:
                        self._attempts[step.id] = attempt
                        return await refuse_attempt(self._deps.pool, self._deps.events,
                                                    self.execution_id, step, attempt,
                                                    exc.to_json())  # fmt: skip
            try:
                outcome = await self._deps.runner.run_attempt(
                    self._ex, step, attempt, prompt, cancelled=self._cancel.is_set,
                    resumed=resumed, opened=opened,
                    followup=partial(self._followup, step.id, hold=hold),
                )  # fmt: skip
            finally:
                await self._release(hold)
            resumed, opened = False, None
            self._attempts[step.id] = attempt
            for next_step in outcome.opened:  # in the same turn as the statement that opened them
                self._spawn(next_step.opening.step.id, 1, opened=next_step)
            if outcome.completed_execution:
                self._completed = True
            if not (outcome.status == "failed" and outcome.retryable
                    and attempt < step.options.retry.max_attempts):  # fmt: skip
                return outcome
            attempt += 1
            await asyncio.sleep(step.options.retry.delay_s(attempt))

    async def _reserve(
        self, step: dsl.PlanStep, prompt: str, spent_usd: Decimal | None = None,
        replacing: Hold | None = None,
    ) -> Hold | None:  # fmt: skip
        if self._deps.budgets is None:
            return None
        return await self._deps.budgets.reserve(
            execution_id=self.execution_id, execution_budget_usd=self._row["budget_usd"],
            user_id=self._ex.user_id, agent_id=step.agent_id,
            model=self._deps.runner.model_of(step), prompt_chars=len(prompt),
            hold_ttl_s=step.options.timeout_s + 60, spent_usd=spent_usd,
            replacing=replacing)  # fmt: skip

    async def _followup(
        self, step_id: str, result: dsl.StepResult, cost_usd: Decimal | None, *,
        hold: Hold | None,
    ) -> Followup:  # fmt: skip
        """What to write with ``step_id``'s outcome (its last running step's), if anything.

        What the loop would do next once the outcome is in, when that is plain: no
        other step is running, no cancel or budget refusal is pending, and nothing is
        to be skipped or cancelled first. Then either the execution completes, or the
        next steps open, unless one waits for keys. Each gets its budget hold and a
        thread here (one try: Suna in trouble delays no outcome); on any refusal or
        Suna error nothing is opened early and the loop starts them as usual. Their
        holds are reserved as if the step's cost (``cost_usd``, not yet counted) were
        counted and its ``hold`` released, as it will be.
        """
        if len(self._tasks) != 1 or self._cancel.is_set() or self._over_budget:
            return Followup()
        state = {**self._state, step_id: dsl.StepState("completed", result)}
        decision = await self._decide(state)
        if decision is None or decision.skip or decision.cancel or decision.fail:
            return Followup()
        if decision.finished:
            if decision.status != "completed":  # (a failure's summary is the loop's to write)
                return Followup()
            return Followup(completes=self._context(state))
        steps = [self._plan.step(s) for s in decision.start]
        if not steps or any(s.options.requires_keys for s in steps):
            return Followup()
        context = self._context(state)
        prompts = [dsl.render_prompt(s, context) for s in steps]
        holds: list[Hold | None] = []
        try:
            for step, prompt in zip(steps, prompts, strict=True):
                holds.append(await self._reserve(step, prompt, cost_usd, hold))
            # one try each: the outcome waits on them, and the loop tries again at leisure
            once = time.monotonic()
            making = [self._deps.runner.new_thread(self._ex, s, 1, once) for s in steps]
            # (one step, the usual case: awaited as it is, not wrapped in a task)
            threads = [await making[0]] if len(making) == 1 else await asyncio.gather(*making)
        except (BudgetExceededError, ModelUnpricedError, SunaError):
            for taken in holds:
                await self._release(taken)
            return Followup()
        return Followup(tuple(Opening(s, p, t, h) for s, p, t, h
                              in zip(steps, prompts, threads, holds, strict=True)))  # fmt: skip

    async def _decide(self, state: dict[str, dsl.StepState] | None = None) -> dsl.Decision | None:
        """The decision on ``state`` (the driver's own if None); None if it was decided in
        a condition thread and meanwhile the driver's state moved (a step opened, a budget
        refused, a cancel or the completion came): decide again."""
        decide = partial(self._scheduler.decide, initial_prompt=self._ex.initial_prompt)
        if not self._scheduler.scans:  # cheap whatever the results: decided here, at once
            return decide(self._state if state is None else state)
        seen = dict(self._state)  # (a copy: step tasks change the state while it is decided)
        decision = await asyncio.get_running_loop().run_in_executor(
            self._deps.conditions, decide, seen if state is None else state
        )
        alone = state is None or len(self._tasks) == 1  # (a followup's premise)
        moved = (self._state != seen or self._completed or bool(self._over_budget)
                 or self._cancel.is_set() or not alone)  # fmt: skip
        return None if moved else decision

    async def _record_undecided(self, items: tuple[dsl.Undecided, ...]) -> None:
        """Record steps whose conditions were too costly to decide as failed (not retried)."""
        async with self._deps.pool.acquire() as conn, conn.transaction():
            events = []
            for item in items:
                step = self._plan.step(item.step_id)
                attempt = self._attempts.get(item.step_id, 1)
                error = {"code": "condition_too_costly", "message": item.message,
                         "step_id": item.step_id, "condition": item.condition,
                         "bound": item.bound}  # fmt: skip
                await conn.execute(
                    """INSERT INTO step_runs (execution_id, step_id, attempt, status, agent_id,
                                              error, finished_at)
                       VALUES ($1, $2, $3, 'failed', $4, $5, now())
                       ON CONFLICT (execution_id, step_id, attempt) DO UPDATE
                          SET status = 'failed', error = EXCLUDED.error, finished_at = now(),
                              updated_at = now()
                        WHERE step_runs.status IN ('pending', 'running')""",
                    self.execution_id, item.step_id, attempt, step.agent_id,
                    {**error, "retryable": False},
                )  # fmt: skip
                events.append(await record(conn, self.execution_id, "step_failed", {
                    "step_id": item.step_id, "attempt": attempt, "suna_run_id": None,
                    "error": error, "will_retry": False}))  # fmt: skip
                self._errors[item.step_id] = error
        await self._deps.events.publish(events)
        for item in items:
            self._state[item.step_id] = dsl.StepState("failed", error=item.message)

    async def _release(self, hold: Hold | None) -> None:
        if hold is None or self._deps.budgets is None:
            return
        try:
            await self._deps.budgets.release(hold)
        except Exception as exc:  # the hold expires on its own
            _log.warning("could not release a budget hold: %s", type(exc).__name__)

    def _context(self, state: dict[str, dsl.StepState] | None = None) -> dict[str, Any]:
        results = {k: v.result for k, v in (self._state if state is None else state).items()
                   if v.status == "completed" and v.result is not None}  # fmt: skip
        return self._ex.context.build(self._ex.initial_prompt, results)

    async def _cancel_steps(self, step_ids: tuple[str, ...]) -> None:
        """Cancel running steps (fail-fast or cancel): tasks first, then their Suna runs."""
        tasks = [self._tasks.pop(s) for s in step_ids if s in self._tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(self._deps.runner.stop_attempt(self._ex, s)
                               for s in step_ids))  # fmt: skip
        recorded = await asyncio.gather(
            *(self._deps.runner.record_stopped_usage(self._ex, self._plan.step(s))
              for s in step_ids), return_exceptions=True)  # fmt: skip
        for step_id, result in zip(step_ids, recorded, strict=True):
            if isinstance(result, Exception):
                _log.warning("usage of stopped step %s not recorded: %r", step_id, result)
        await self._record_settled(tuple((s, "cancelled") for s in step_ids), "cancelled")

    async def _record_settled(self, items: tuple[tuple[str, str], ...], status: str) -> None:
        """Record steps as skipped or cancelled (with the reason) and tell the state."""
        async with self._deps.pool.acquire() as conn, conn.transaction():
            events = []
            for step_id, reason in items:
                step = self._plan.step(step_id)
                attempt = self._attempts.get(step_id, 1)
                await conn.execute(
                    """INSERT INTO step_runs (execution_id, step_id, attempt, status, agent_id,
                                              error, finished_at)
                       VALUES ($1, $2, $3, $4, $5, $6, now())
                       ON CONFLICT (execution_id, step_id, attempt) DO UPDATE
                          SET status = EXCLUDED.status, finished_at = now(), updated_at = now(),
                              error = coalesce(step_runs.error, '{}') || EXCLUDED.error
                        WHERE step_runs.status IN ('pending', 'running')""",
                    self.execution_id, step_id, attempt, status, step.agent_id,
                    {"code": reason, "message": reason.replace("_", " ")},
                )  # fmt: skip
                kind = "step_skipped" if status == "skipped" else "step_cancelled"
                events.append(
                    await record(
                        conn, self.execution_id, kind, {"step_id": step_id, "reason": reason}
                    )
                )
        await self._deps.events.publish(events)
        for step_id, _ in items:
            self._state[step_id] = dsl.StepState("skipped" if status == "skipped" else "cancelled")

    async def _stop_all(self, status: str, error: dict[str, Any] | None) -> str:
        running = tuple(self._tasks)
        await self._cancel_steps(running)
        pending = tuple(
            (s.id, "execution_" + status)
            for s in self._plan.steps
            if self._state.get(s.id, dsl.StepState()).status == "pending"
        )
        if pending:
            await self._record_settled(pending, "cancelled")
        return await self._finalize(status, error)

    async def _stop_over_budget(self) -> str:
        """A budget refused a step: say which, cancel what is pending, end budget_exceeded."""
        refused = tuple((s, "budget_exceeded") for s in self._over_budget)
        exc = next(iter(self._over_budget.values()))
        await self._deps.events.emit(self.execution_id, "budget_exceeded", {
            **exc.to_json(), "steps": [s for s, _ in refused]})  # fmt: skip
        await self._record_settled(refused, "cancelled")
        pending = tuple(
            (s.id, "execution_budget_exceeded")
            for s in self._plan.steps
            if self._state.get(s.id, dsl.StepState()).status == "pending"
        )
        if pending:
            await self._record_settled(pending, "cancelled")
        return await self._finalize("budget_exceeded", exc.to_json())

    def _failure_summary(self) -> dict[str, Any]:
        """The execution's error: which steps failed, and why the first one did."""
        failed = [s for s, v in self._state.items() if v.status == "failed"]
        if not failed:
            return {"code": "step_failed", "message": "a step failed", "steps": failed}
        cause = self._errors.get(failed[0], {})
        why = cause.get("message") or self._state[failed[0]].error
        return {"code": "step_failed", "steps": failed, "cause": cause.get("code"),
                "message": f"step {failed[0]} failed" + (f": {why}" if why else "")}

    # --- bookkeeping ---------------------------------------------------------

    async def _mark_running(self) -> datetime:
        """When the execution started (a queued one was started by taking its lease)."""
        if self._row["prior_status"] == "queued":
            kinds = [("execution_started", started_data(self._deps.worker_id))]
            await self._deps.events.publish(events_appended(self.execution_id, kinds, self._row))
        started: datetime = self._row["started_at"] or datetime.now(UTC)
        return started

    async def _load_state(self) -> None:
        """Rebuild the state from step_runs (a take-over resumes running steps)."""
        rows = await self._deps.pool.fetch(
            """SELECT DISTINCT ON (step_id) * FROM step_runs WHERE execution_id = $1
                ORDER BY step_id, attempt DESC""",
            self.execution_id,
        )
        resume: list[tuple[str, int]] = []
        for row in rows:
            step = self._plan.step(row["step_id"])
            self._attempts[step.id] = row["attempt"]
            status = row["status"]
            error = row["error"] or {}
            if status == "completed":
                output = row["output"]
                result = dsl.StepResult(row["answer"] or "", output["data"] if output else None,
                                        output is not None)  # fmt: skip
                self._state[step.id] = dsl.StepState("completed", result)
            elif status == "running":
                resume.append((step.id, row["attempt"]))
            elif (
                status == "failed"
                and error.get("retryable")
                and (row["attempt"] < step.options.retry.max_attempts)
            ):
                resume.append((step.id, row["attempt"] + 1))
            elif status in ("failed", "skipped", "cancelled"):
                if status == "failed":
                    self._errors[step.id] = error
                self._state[step.id] = dsl.StepState(status, error=error.get("message"))
        for step_id, attempt in resume:
            self._spawn(step_id, attempt, resumed=attempt == self._attempts[step_id])

    async def _finalize(self, status: str, error: dict[str, Any] | None) -> str:
        """The final status and event; Redis gets the whole context with the event.

        (The snapshot has every completed step already; Redis may have missed one.)
        """
        kind, data = _FINAL_EVENT[status], {"status": status, "error": error}
        # No step outlives its execution: one still open here (a bug's leftover) is closed.
        row = await self._deps.pool.fetchrow(
            f"""WITH ev_seq AS (
                  UPDATE executions SET {finish_set_sql("$2", "$3")}, event_seq = event_seq + 1
                   WHERE id = $1 AND {driving_sql("$4")}
               RETURNING event_seq - 1 AS base),
               orphans AS (
                  UPDATE step_runs SET status = 'cancelled', error = $7, finished_at = now(),
                         updated_at = now()
                   WHERE execution_id = $1 AND status IN ('pending', 'running')
                     AND EXISTS (SELECT 1 FROM ev_seq)),
               {insert_events_sql("$1::uuid", "$5", "$6")}
               SELECT {EVENTS_APPENDED}""",
            self.execution_id, status, error, self._deps.worker_id, [kind], [data],
            {"code": "execution_ended",
             "message": f"the execution ended {status} while this step was still open"},
        )  # fmt: skip
        if row["ev_base"] is None:
            raise LeaseLostError(self.execution_id)
        await self._deps.events.publish(events_appended(self.execution_id, [(kind, data)], row),
                                        LiveContext.of(self.execution_id, self._context()))
        metrics.EXECUTIONS.labels(status).inc()
        return status
