"""One step attempt, run against Suna exactly once, durably.

The protocol (Suna's "exactly-once starts"), each write in PostgreSQL before
the next call:

1. choose the thread: Suna's ``agent-start`` and ``v1`` APIs take thread and
   project ids chosen by the caller (an *optimistic* start), so the ids are
   made here and no call is needed; ``api-2025`` creates the thread first.
   Write the attempt's row (``step_runs``) with its prompt and
   ``suna_thread_id`` and its ``step_started`` event, in one statement (a
   crash between the two leaves at most an empty thread in Suna, never a run);
2. ``api-2025``: add the prompt as a user message (later APIs carry it in the
   start);
3. check the lease is still ours, start the agent (named agents resolved to
   their UUIDs in the service account);
4. wait for the run by streaming (``suna_run_id`` is recorded meanwhile once the
   run has lasted RUN_ID_WRITE_AFTER_S, else with the outcome); read answer and
   usage; record the outcome, its events, the usage row and the step's part of the
   context in one statement.

A worker that takes an attempt over resumes from what is recorded: a thread
without a run id is first asked for its runs (``list_thread_runs``, which
asks again for a moment where ``v1`` writes rows late), and a run found there
is re-attached, never started again. A thread Suna does not know (404) was
never created by an optimistic start, which is then made again under the same
ids; an optimistic thread Suna has proves its start arrived, so it is never
started on again (its run is awaited, else the attempt fails). An
``api-2025`` thread without a run has its messages read before the prompt is
added, so the prompt is never added twice. Errors that may or may not have
reached Suna are resolved the same way before any new start.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal, TypeVar

import dsl
from renum import metrics
from renum.context import LiveContext, snapshot_merge_sql
from renum.engine.failures import step_error
from renum.engine.leases import driving_sql, finish_set_sql, held_sql
from renum.engine.reconcile import unread_sql
from renum.errors import CredentialError
from renum.events import EVENTS_APPENDED, Event, EventLog, append_events_sql, events_appended
from renum.keys import KeyRing
from renum.suna_accounts import SUNA_KEY_SERVICE, Account, SunaAccounts
from renum.usage import UsageLedger, UsageRow, usage_insert_sql
from renum.vault import open_sealed, plausible_key, sealed_keys_sql, services_of
from suna_client import (
    AgentRun,
    AgentStarted,
    AgentStartRequest,
    RunOutput,
    RunResult,
    Started,
    StartRequest,
    SunaCircuitOpenError,
    SunaClient,
    SunaConnectionError,
    SunaError,
    SunaNotFoundError,
    SunaProtocolError,
    SunaRateLimitedError,
    SunaServerError,
    SunaTimeoutError,
    ThreadCreated,
)
from suna_client.errors import scrub

__all__ = ["AttemptOutcome", "Execution", "Followup", "LeaseLostError", "Opened", "Opening",
           "StepRunner"]  # fmt: skip

_log = logging.getLogger("renum.engine.steps")
T = TypeVar("T")

#: Waits between tries of a transient Suna failure inside one attempt (the last one
#: repeats, with jitter, until the step's deadline: Suna being down is waited out).
TRANSIENT_BACKOFF_S = (0.2, 0.5, 1.0, 2.0, 5.0)
#: An attempt that has waited this long on Suna being unreachable says so (step_waiting).
OUTAGE_NOTICE_S = 0.5
#: Most starts one attempt sends that Suna answers with an error or not at all (5xx, a
#: lost answer): each may carry the user's keys, and a Suna failing them is not waited
#: out start after start. Starts that never reached Suna (connection refused) do not count.
MAX_STARTS_PER_ATTEMPT = 4
#: Longest wait between start tries while Suna's parallel-run limit is reached.
RATE_LIMIT_MAX_WAIT_S = 2.0
#: Longest wait for a stopped run to settle before its usage is read.
STOP_SETTLE_S = 3.0
#: A new run's id is written to step_runs once the run has lasted this long; a run over
#: sooner has it written with its outcome (see _LateRunId).
RUN_ID_WRITE_AFTER_S = 0.25
#: A first start more than this after _open's lease check checks the lease again.
LEASE_RECHECK_S = 1.0
#: Namespace of the Suna project ids derived from execution ids (see project_of).
PROJECT_NAMESPACE = uuid.UUID("5b0f8d52-2c4e-4a51-9e37-0c6b1f7a4d20")
#: Longest answer kept in an event (the full answer is in step_runs).
EVENT_ANSWER_CHARS = 16_000
_TRANSIENT = (SunaConnectionError, SunaTimeoutError, SunaServerError, SunaCircuitOpenError,
              SunaRateLimitedError)  # fmt: skip


class LeaseLostError(Exception):
    """This worker no longer holds the execution's lease: stop touching it."""


@dataclass
class _Attempt:
    """The attempt this task runs, as far as waiting on Suna needs to tell of it."""

    execution_id: str
    step_id: str
    failing_since: float | None = None
    """When Suna first failed a call of this attempt."""
    told: bool = False
    """Whether ``step_waiting`` already said the attempt waits on Suna."""


#: The attempt of the running task (each step attempt runs in its own task).
_ATTEMPT: contextvars.ContextVar[_Attempt | None] = contextvars.ContextVar(
    "renum_attempt", default=None
)


@dataclass(frozen=True)
class Execution:
    """What a step attempt needs to know about its execution."""

    id: str
    user_id: str
    team_id: str
    initial_prompt: str
    context: dsl.ContextShape
    """What each completed step adds to the shared context."""
    account: Account
    """The Suna account its steps call as (fixed at launch)."""
    agents: dict[str, str] = field(default_factory=dict)
    """Agent names → the UUIDs they resolved to for this execution (at launch, or at their
    first start): kept for the whole execution, so renaming an agent changes nothing."""

    @property
    def suna(self) -> SunaClient:
        """The client that calls Suna as the execution's account."""
        return self.account.client


@dataclass(frozen=True)
class Opening:
    """A step whose first attempt opens in the statement that records another step's outcome.

    Its thread is already created; ``hold`` is the caller's, carried along.
    """

    step: dsl.PlanStep
    prompt: str
    thread: ThreadCreated
    hold: Any = None


@dataclass(frozen=True)
class Opened:
    """An :class:`Opening` whose attempt row (and ``step_started``) is written: start it with
    ``run_attempt(..., opened=...)``."""

    opening: Opening
    row: dict[str, Any]


@dataclass(frozen=True)
class Followup:
    """What the statement that records a completed step's outcome also writes."""

    openings: tuple[Opening, ...] = ()
    """The next steps' first attempts (their rows and ``step_started``)."""
    completes: Mapping[str, Any] | None = None
    """The execution completes with this outcome: its whole context, for Redis. The
    statement then also sets the final status, writes ``execution_completed`` and lets
    the lease go, as the driver's ``_finalize`` would, and only while the lease is held."""


@dataclass(frozen=True)
class AttemptOutcome:
    """How an attempt ended."""

    status: Literal["completed", "failed", "cancelled"]
    result: dsl.StepResult | None = None
    error: dict[str, Any] | None = None
    retryable: bool = False
    opened: tuple[Opened, ...] = ()
    """The steps opened with this outcome (see ``run_attempt``'s ``followup``)."""
    completed_execution: bool = False
    """The execution completed with this outcome (``Followup.completes``)."""


def _error(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"code": code, "message": message[:2000], **extra}


@dataclass
class _Thread:
    """The attempt's thread as far as this worker knows it."""

    thread_id: str
    project_id: str | None
    unified: bool
    """Whether the deployment's start takes the prompt (``agent-start``, ``v1``)."""
    exists: bool
    """Whether Suna has it (``api-2025``: created first; later: a start made it)."""
    prompt: str | None
    """The prompt the start carries (``agent-start``, ``v1``)."""


@dataclass(frozen=True)
class _Run:
    """The attempt's Suna run, found or started."""

    run_id: str
    thread_id: str
    forwarded: frozenset[str] | None = None
    """The services whose keys the start carried (None: not started by this worker)."""
    recorded: bool = True
    """Whether ``suna_run_id`` is already in step_runs."""


class _LateRunId:
    """The write of a new run's id while the run runs, begun after RUN_ID_WRITE_AFTER_S.

    Nothing depends on the id being in step_runs early: a take-over, a cancel and a
    stopped run's usage all find the run from its recorded thread
    (``list_thread_runs``); the id is there for readers of a long run. So a run that
    is over within the delay gets its id written by the statement that records its
    outcome, one statement fewer, and a longer one gets it while it runs.
    """

    def __init__(
        self, adopt: Callable[[tuple[str, str, int], str], Awaitable[str]],
        key: tuple[str, str, int], run_id: str,
    ) -> None:  # fmt: skip
        self._task: asyncio.Future[str] | None = None
        self._timer = asyncio.get_running_loop().call_later(
            RUN_ID_WRITE_AFTER_S, self._begin, adopt, key, run_id
        )

    def _begin(self, adopt: Callable[..., Awaitable[str]], *args: Any) -> None:
        self._task = asyncio.ensure_future(adopt(*args))

    async def settle(self) -> None:
        """The wait is over: a write not begun is dropped, one begun lands first."""
        self._timer.cancel()
        if self._task is not None:
            await asyncio.shield(self._task)


class StepRunner:
    """Runs step attempts for one worker."""

    def __init__(
        self, pool: Any, events: EventLog, suna: SunaClient, ledger: UsageLedger, worker_id: str,
        *, key_ring: KeyRing | None = None, usage_retry_s: float = 30.0,
        default_model: str | None = None, forward_keys: bool = False,
        account_id: str | None = None,
    ) -> None:  # fmt: skip
        self.accounts = SunaAccounts(suna, service_account_id=account_id, key_ring=key_ring)
        self._forward_keys = forward_keys
        self._usage_retry_s = usage_retry_s
        self._default_model = default_model
        self._pool = pool
        self._events = events
        self._ledger = ledger
        self._worker_id = worker_id
        self._key_ring = key_ring

    def model_of(self, step: dsl.PlanStep) -> str | None:
        """The model a step's start asks for (None: the agent's own default)."""
        return step.options.model or self._default_model

    async def run_attempt(
        self,
        ex: Execution,
        step: dsl.PlanStep,
        attempt: int,
        prompt: str,
        *,
        keys: dict[str, str] | None = None,
        cancelled: Callable[[], bool] = lambda: False,
        resumed: bool = True,
        opened: Opened | None = None,
        followup: Callable[[dsl.StepResult, Decimal | None], Awaitable[Followup]] | None = None,
    ) -> AttemptOutcome:
        """Run (or resume) one attempt to its end and record the outcome.

        ``resumed=False`` says the attempt has no row yet (the driver's state says
        so): its thread is created before the row is written, saving a round trip.
        Otherwise the row is read first and the attempt resumes from it. ``opened``
        is an attempt whose row an earlier step's outcome statement wrote.

        ``followup``, given the step's result and cost once it completed, says what
        follows: the steps that start next, their threads created, or the execution's
        completion. The statement that records this outcome also writes that (one
        statement where there would be two), and the outcome carries it (``opened``,
        ``completed_execution``). A crash after that statement leaves opened steps as
        any opened attempt is left: a thread and no run, resumed by a take-over.
        """
        deadline = time.monotonic() + step.options.timeout_s
        _ATTEMPT.set(_Attempt(ex.id, step.id))
        sealed: tuple[Any, Any] = (None, None)  # the user's keys, as the attempt's row read them
        try:
            if opened is not None:  # its step_started went out with the earlier outcome
                sealed = (opened.row["key_services"], opened.row["key_sealed"])
                run = await self._ensure_run(ex, step, attempt, opened.row, deadline, keys)
            else:
                if resumed:
                    row, events = await self._open(ex, step, attempt, prompt, None)
                    started = row["started_at"] or datetime.now(UTC)
                    deadline -= (datetime.now(UTC) - started).total_seconds()
                else:
                    try:  # one try: Suna in trouble is waited for once the row is written
                        created: ThreadCreated | None = await self.new_thread(
                            ex, step, attempt, time.monotonic())  # fmt: skip
                    except SunaError:
                        created = None  # _ensure_run makes it
                    row, events = await self._open(ex, step, attempt, prompt, created)
                sealed = (row["key_services"], row["key_sealed"])
                _, run = await asyncio.gather(  # step_started goes out while the run starts
                    self._events.publish(events),
                    self._ensure_run(ex, step, attempt, row, deadline, keys),
                )
        except SunaError as exc:
            outcome = AttemptOutcome("failed", error=step_error(exc, ex.account.caller),
                                     retryable=exc.retryable)  # fmt: skip
            return await self._finish(ex, step, attempt, None, None, outcome)
        except CredentialError as exc:  # names the service and master key id, never a value
            outcome = AttemptOutcome("failed", error=_error("credential_error", exc.detail))
            return await self._finish(ex, step, attempt, None, None, outcome)
        run_id, thread_id, forwarded = run.run_id, run.thread_id, run.forwarded
        late = None if run.recorded else _LateRunId(self._adopt, (ex.id, step.id, attempt), run_id)
        try:
            try:
                result = await self._wait(ex.suna, run_id, deadline)
            finally:
                if late is not None:
                    await late.settle()
            final = result.status
            run_error = result.run.error
        except SunaTimeoutError:
            final, run_error = "timeout", None
        except SunaError as exc:  # the run exists; report and let the retry policy decide
            stopped = None  # a retry must not leave it running; its usage once its end holds
            if (await self._stop(ex.suna, run_id))[0]:
                _, stopped = await self._output(ex, step, attempt, run_id, thread_id, forwarded)
            return await self._finish(ex, step, attempt, run_id, thread_id, AttemptOutcome(
                "failed", error=step_error(exc, ex.account.caller), retryable=True),
                stopped)  # fmt: skip
        holds = True
        if final == "timeout":
            holds, ended = await self._stop(ex.suna, run_id)
            if ended is not None:  # it ended just as the step's time ran out: as it ended
                final, run_error = ended.status, ended.error
        output: RunOutput | None = None
        usage: UsageRow | None = None
        if holds:
            output, usage = await self._output(ex, step, attempt, run_id, thread_id, forwarded)
        if usage is not None and usage.usage.llm_calls == 0 and output is not None \
                and output.has_answer:  # answered, billed, but its usage rows are not written
            usage = None  # yet (a batch writer flushing late): read again later
        answer = output.answer if output is not None else None
        if answer and sealed[0]:  # an agent or provider may echo a key: never recorded
            answer = self._without_keys(ex, answer, *sealed)
        if final == "completed" and output is None:  # over in Suna, but its answer is unknown
            _log.warning("run %s of %s/%s completed but its output could not be read; its"
                         " usage will be read again later", run_id, ex.id, step.id)  # fmt: skip
            outcome = AttemptOutcome("failed", retryable=True, error=_error(
                "suna_output_unavailable",
                f"the run completed but its answer could not be read from Suna ({run_id})"))
        elif final == "completed" and output is not None and (
            not output.has_answer
            or (output.answer_source == "text"
                and (run_error := run_error or await ex.suna.run_error_text(run_id)))
        ):  # fmt: skip
            # Suna's way (api-2025, agent-start) of saying an LLM call failed: the run
            # "completed" with no answer, or with only what came before the failed call
            # (no complete/ask call then, and the error stored after the completion)
            why = run_error or await ex.suna.run_error_text(run_id)
            text = await self._scrubbed(ex, why or "Suna recorded no error")
            what = "no answer" if not output.has_answer else "no final answer"
            outcome = AttemptOutcome("failed", retryable=True, error=_error(
                "suna_no_answer", f"Suna reported the run completed but it wrote {what}: "
                f"{text}"))  # fmt: skip
        elif final == "completed":
            outcome = AttemptOutcome("completed", result=dsl.parse_result(answer or ""))
            if followup is not None and outcome.result is not None:
                cost = usage.priced.cost_usd if usage is not None else None
                then = await followup(outcome.result, cost)
                return await self._finish(ex, step, attempt, run_id, thread_id, outcome, usage,
                                          then)  # fmt: skip
        elif final == "timeout":
            outcome = AttemptOutcome(
                "failed",
                error=_error("step_timeout", f"no answer within {step.options.timeout_s:g} s"),
                retryable=True,
            )
        elif final == "stopped" and cancelled():
            outcome = AttemptOutcome("cancelled", error=_error("cancelled", "execution cancelled"))
        else:
            message = await self._scrubbed(ex, run_error) if run_error else ""
            message = message or f"the agent run ended {final}"
            billing = "billing" in message.lower()
            outcome = AttemptOutcome(
                "failed", error=_error(f"run_{final}", message), retryable=not billing
            )
        return await self._finish(ex, step, attempt, run_id, thread_id, outcome, usage)

    async def new_thread(
        self, ex: Execution, step: dsl.PlanStep, attempt: int, deadline: float | None = None
    ) -> ThreadCreated:
        """A new Suna thread for an attempt (transient failures tried again until ``deadline``,
        by default the step's timeout from now).

        Where Suna takes optimistic starts, the ids are chosen here (a new thread in the
        execution's project, see project_of) and the start itself creates the thread: no
        call but the one that learns the deployment's API, once per client.
        """
        if deadline is None:
            deadline = time.monotonic() + step.options.timeout_s
        if (await self._transient(ex.suna.routes, deadline)).unified_start:
            return ThreadCreated(thread_id=str(uuid.uuid4()), project_id=project_of(ex.id))
        return await self._transient(
            lambda: ex.suna.create_thread(f"renum {ex.id} {step.id} #{attempt}"), deadline
        )

    async def _wait(self, suna: SunaClient, run_id: str, deadline: float) -> RunResult:
        """Wait for the run (streaming) until the step's deadline.

        The run lives in Suna whatever happens to our connection: Suna being
        unreachable for a while (connection errors, 5xx, 429, an open breaker)
        is waited out, never counted as the step failing.
        """
        failures = 0
        while True:
            try:
                return await suna.wait_for_run(
                    run_id, timeout_s=max(0.0, deadline - time.monotonic())
                )
            except _TRANSIENT as exc:
                pause = _transient_pause(exc, failures)
                failures += 1
                if time.monotonic() + pause >= deadline:
                    raise SunaTimeoutError(
                        f"run {run_id} not confirmed over before the step timeout",
                        request_sent=True) from exc  # fmt: skip
                _log.warning("waiting for run %s: %s; waiting on", run_id, type(exc).__name__)
                await self._waiting_on_suna(exc)
                await asyncio.sleep(pause)

    async def _open(
        self, ex: Execution, step: dsl.PlanStep, attempt: int, prompt: str, thread: Any
    ) -> tuple[Any, list[Event]]:
        """Write the attempt's row (with its new thread, if any) and its ``step_started``.

        An existing row is kept as it is (its thread wins over a new one, which is
        then left empty): the attempt resumes from it. The same statement says
        whether the lease is still ours and reads the user's sealed keys, which are
        opened right before the start.
        """
        data = {"step_id": step.id, "agent_id": step.agent_id, "attempt": attempt}
        row = await self._pool.fetchrow(
            f"""WITH r AS (
                  INSERT INTO step_runs (execution_id, step_id, attempt, status, agent_id,
                                         prompt, worker_id, started_at, suna_thread_id,
                                         suna_project_id)
                  VALUES ($1, $2, $3, 'running', $4, $5, $6, now(), $7, $8)
                  ON CONFLICT (execution_id, step_id, attempt)
                  DO UPDATE SET worker_id = EXCLUDED.worker_id, updated_at = now()
                  RETURNING *, (xmax = 0) AS inserted),
               {append_events_sql("$1::uuid", "$9", "$10",
                                  when="EXISTS (SELECT 1 FROM r WHERE inserted)")}
               SELECT r.*, {EVENTS_APPENDED},
                      {held_sql("$1", "$6")} AS lease_held, {sealed_keys_sql("$11")}
                 FROM r""",
            ex.id, step.id, attempt, step.agent_id, prompt, self._worker_id,
            thread.thread_id if thread else None, thread.project_id if thread else None,
            ["step_started"], [data], ex.user_id,
        )  # fmt: skip
        return row, events_appended(ex.id, [("step_started", data)], row)

    async def _ensure_run(
        self, ex: Execution, step: dsl.PlanStep, attempt: int, row: Any, deadline: float,
        keys: dict[str, str] | None,
    ) -> _Run:  # fmt: skip
        key = (ex.id, step.id, attempt)
        checked = time.monotonic()  # when _open's statement checked the lease
        if row["suna_run_id"]:
            return _Run(row["suna_run_id"], row["suna_thread_id"])
        thread_id: str | None = row["suna_thread_id"]
        project_id: str | None = row["suna_project_id"]
        resumed = not row["inserted"]
        if thread_id is None:  # a row from before threads were created first
            created = await self.new_thread(ex, step, attempt, deadline)
            thread_id, project_id = created.thread_id, created.project_id
            await self._pool.execute(
                """UPDATE step_runs SET suna_thread_id = $4, suna_project_id = $5,
                          updated_at = now()
                    WHERE execution_id = $1 AND step_id = $2 AND attempt = $3""",
                *key, thread_id, created.project_id,
            )  # fmt: skip
            resumed = False
        unified = (await self._transient(ex.suna.routes, deadline)).unified_start
        thread = _Thread(thread_id, project_id, unified=unified, exists=not unified,
                         prompt=row["prompt"] if unified else None)  # fmt: skip
        if resumed:
            runs = await self._runs_of(ex.suna, thread, deadline)
            if runs:
                return _Run(await self._adopt(key, runs[0].id), thread_id)
        if not row["lease_held"]:  # checked by _open's statement: touch nothing more
            raise LeaseLostError(ex.id)
        if not unified:
            await self._add_message(ex.suna, thread_id, row["prompt"], resumed, deadline)
        user_keys = self._user_keys(ex, keys, row["key_services"], row["key_sealed"])
        return await self._start(key, ex, step, thread, deadline, keys, user_keys, checked)

    async def _runs_of(
        self, suna: SunaClient, thread: _Thread, deadline: float
    ) -> list[AgentRun]:
        """The runs Suna has on ``thread``; none if an optimistic start never created it.

        A 404 or an empty list is asked again for a while by the client (``v1``
        writes rows just after answering a start). Where only a start creates a
        thread (``agent-start``, ``v1``), a thread that exists proves a start
        reached Suna: its run is awaited until ``deadline``, never started again,
        and then the attempt fails (retryable) rather than risk a second run.
        """
        try:
            runs = await self._transient(
                lambda: suna.list_thread_runs(thread.thread_id, expect_run=True), deadline
            )
        except SunaNotFoundError:
            if thread.exists:
                raise
            return []  # no start reached Suna: the optimistic start is made again
        while thread.unified and not runs:
            if time.monotonic() + 1.0 > deadline:
                raise SunaTimeoutError(
                    f"Suna has thread {thread.thread_id}, so its start reached Suna, but no "
                    "run of it appeared before the step timeout", request_sent=True)
            await asyncio.sleep(1.0)
            runs = await self._transient(
                lambda: suna.list_thread_runs(thread.thread_id), deadline
            )
        return runs

    async def _agent_id(self, ex: Execution, agent: str) -> str:
        """The Suna UUID of a step's agent for this execution: the one frozen at launch, or
        its name resolved now in the execution's account and frozen from then on."""
        frozen = ex.agents.get(agent)
        if frozen is not None:
            return frozen
        agent_id = await self.accounts.agent_id(ex.account, agent)
        if agent_id != agent:
            ex.agents[agent] = agent_id
            await self._pool.execute(  # a take-over runs the same agent
                """UPDATE executions SET agents = coalesce(agents, '{}') || jsonb_build_object(
                          $2::text, $3::text)
                    WHERE id = $1 AND NOT coalesce(agents, '{}') ? $2""",
                ex.id, agent, agent_id,
            )  # fmt: skip
        return agent_id

    def _user_keys(
        self, ex: Execution, keys: dict[str, str] | None, services: list[str] | None,
        sealed: list[bytes] | None,
    ) -> dict[str, str]:  # fmt: skip
        """The keys to forward on one start: every key the user stores, decrypted now, when
        forwarding is on (``SUNA_FORWARD_PROVIDER_KEYS``; stock Suna reads none), else none.

        All of them, not only the step's ``requires_keys``: the agent's tools and
        its model's provider may each need one, and Suna picks what it uses. The
        plaintexts live in the request's headers and nowhere else.
        """
        if not self._forward_keys:
            return {}
        if keys is None and self._key_ring is not None:
            keys = open_sealed(self._key_ring, ex.user_id, services, sealed)
        # the user's own Suna account key is never a provider key
        return {s: v for s, v in (keys or {}).items() if s != SUNA_KEY_SERVICE}

    async def _prepare_start(
        self, ex: Execution, keys: dict[str, str] | None
    ) -> tuple[bool, dict[str, str]]:
        """Whether the lease is still ours, and the keys to forward (a start tried again)."""
        row = await self._pool.fetchrow(
            f"SELECT {held_sql('$1', '$2')} AS lease_held, {sealed_keys_sql('$3')}",
            ex.id, self._worker_id, ex.user_id,
        )  # fmt: skip
        if not row["lease_held"]:
            return False, {}
        return True, self._user_keys(ex, keys, row["key_services"], row["key_sealed"])

    async def _add_message(
        self, suna: SunaClient, thread_id: str, prompt: str, resumed: bool, deadline: float
    ) -> None:
        async def add() -> None:
            if resumed or tries:  # a message may already be there: never add the prompt twice
                rows = await suna.get_messages(thread_id, order="asc")
                if any(r.type == "user" for r in rows):
                    return
            tries.append(1)
            await suna.add_message(thread_id, prompt)

        tries: list[int] = []
        await self._transient(add, deadline)

    async def _start(
        self, key: tuple[str, str, int], ex: Execution, step: dsl.PlanStep, thread: _Thread,
        deadline: float, keys: dict[str, str] | None, user_keys: dict[str, str],
        checked: float,
    ) -> _Run:  # fmt: skip
        """Start the run with ``user_keys`` (the lease was checked at ``checked``).

        A start tried again (Suna's run limit, an open breaker, a start that never
        reached Suna) checks the lease and reads the keys again first; so does a first
        start that waited on Suna (a take-over's question, an agent lookup) since.
        """
        agent_id = await self._transient(lambda: self._agent_id(ex, step.agent_id), deadline)
        if time.monotonic() - checked > LEASE_RECHECK_S:
            held, user_keys = await self._prepare_start(ex, keys)
            if not held:
                raise LeaseLostError(ex.id)
        model = self.model_of(step)
        thread_id = thread.thread_id
        waited = False
        limited = failed = 0
        last: SunaError | None = None  # why the latest start did not start the run
        while True:
            try:
                started: AgentStarted | Started
                if thread.unified:  # one call: the thread, the prompt and the run
                    started = await ex.suna.start(StartRequest(
                        prompt=thread.prompt, thread_id=thread_id, agent_id=agent_id,
                        model_name=model, optimistic=True, project_id=thread.project_id,
                    ), extra_keys=user_keys)  # fmt: skip
                else:
                    request = AgentStartRequest(agent_id=agent_id, model_name=model)
                    started = await ex.suna.start_agent(thread_id, request,
                                                        extra_keys=user_keys)  # fmt: skip
                return _Run(started.agent_run_id, thread_id, _attributable(user_keys),
                            recorded=False)  # fmt: skip
            except SunaRateLimitedError as exc:  # the parallel-run limit: queue, don't fail
                last = exc
                if not waited:
                    waited = True
                    await self._events.emit(ex.id, "step_waiting", {
                        "step_id": step.id, "reason": "suna_parallel_run_limit",
                        "running_count": exc.running_count, "limit": exc.limit})  # fmt: skip
                pause = exc.retry_after or _limit_backoff(limited)
                limited += 1
            except SunaCircuitOpenError as exc:
                last, pause = exc, max(exc.retry_in_s, 0.2)
                await self._waiting_on_suna(exc)
            except (SunaConnectionError, SunaTimeoutError, SunaServerError,
                    SunaProtocolError) as exc:  # fmt: skip
                last = exc
                if getattr(exc, "request_sent", True):  # it may have reached Suna
                    runs = await self._runs_of(ex.suna, thread, deadline)
                    if runs:  # the start did reach Suna: adopt, never start again
                        run_id = await self._adopt(key, runs[0].id)
                        return _Run(run_id, thread_id, _attributable(user_keys))
                    failed += 1
                    if failed >= MAX_STARTS_PER_ATTEMPT:
                        raise
                    await self._unshare_project(key, ex, thread, exc)
                pause = _transient_pause(exc, failed)
                await self._waiting_on_suna(exc)
            if time.monotonic() + pause > deadline:
                assert last is not None
                raise last  # the run limit, or Suna down, lasted until the step's timeout
            user_keys = {}
            await asyncio.sleep(pause)
            held, user_keys = await self._prepare_start(ex, keys)
            if not held:
                raise LeaseLostError(ex.id)

    async def _unshare_project(
        self, key: tuple[str, str, int], ex: Execution, thread: _Thread, exc: SunaError
    ) -> None:
        """After a start that made no thread failed with a 500 on the execution's shared
        project: some ``v1`` versions (2025-12 to 2026-01) insert the project of every
        optimistic start and fail on one that exists, so this thread gets a project of
        its own (recorded first; the thread does not exist, so nothing is lost)."""
        if not (thread.unified and isinstance(exc, SunaServerError) and exc.status == 500
                and thread.project_id == project_of(ex.id)):  # fmt: skip
            return
        _log.warning("Suna refused a start in execution %s's shared project (%s); this "
                     "thread gets a project of its own", ex.id, exc.code)  # fmt: skip
        thread.project_id = str(uuid.uuid4())
        await self._pool.execute(
            """UPDATE step_runs SET suna_project_id = $4, updated_at = now()
                WHERE execution_id = $1 AND step_id = $2 AND attempt = $3""",
            *key, thread.project_id,
        )  # fmt: skip

    async def _adopt(self, key: tuple[str, str, int], run_id: str) -> str:
        await self._pool.execute(
            """UPDATE step_runs SET suna_run_id = $4, updated_at = now()
                WHERE execution_id = $1 AND step_id = $2 AND attempt = $3""",
            *key, run_id,
        )  # fmt: skip
        return run_id

    async def _transient(self, op: Callable[[], Awaitable[T]], deadline: float) -> T:
        """Run ``op``, trying again on transient Suna failures until the deadline.

        Suna down, failing or throttling is waited out (the attempt's followers are
        told, see _waiting_on_suna), never taken for the step failing; the last
        failure is raised once another try would end past the deadline.
        """
        failures = 0
        while True:
            try:
                result = await op()
            except _TRANSIENT as exc:
                pause = _transient_pause(exc, failures)
                failures += 1
                if time.monotonic() + pause > deadline:
                    raise
                await self._waiting_on_suna(exc)
                await asyncio.sleep(pause)
            else:
                if failures and (attempt := _ATTEMPT.get()) is not None:
                    attempt.failing_since = None  # Suna is back: a later outage counts anew
                return result

    async def _waiting_on_suna(self, exc: SunaError) -> None:
        """Tell the attempt's followers, once, that it waits for Suna (after OUTAGE_NOTICE_S
        of failures), with the reason (``suna_unreachable`` or Suna's throttle)."""
        attempt = _ATTEMPT.get()
        if attempt is None or attempt.told:
            return
        now = time.monotonic()
        if attempt.failing_since is None:
            attempt.failing_since = now
        if now - attempt.failing_since < OUTAGE_NOTICE_S:
            return
        attempt.told = True
        reason = "suna_throttled" if isinstance(exc, SunaRateLimitedError) else "suna_unreachable"
        await self._events.emit(attempt.execution_id, "step_waiting", {
            "step_id": attempt.step_id, "reason": reason, "error": exc.code})  # fmt: skip

    def _without_keys(
        self, ex: Execution, text: str, services: list[str], sealed: list[bytes]
    ) -> str:
        """An answer without any of the user's keys in it (values that could be keys: a
        short or spaced value is not looked for, it would mangle the answer).

        Keys that cannot be opened cannot have reached Suna either: the text stays."""
        if self._key_ring is None:
            return text
        try:
            keys = open_sealed(self._key_ring, ex.user_id, services, sealed)
        except CredentialError:
            return text
        return scrub(text, (v for v in keys.values() if plausible_key(v)))

    async def _scrubbed(self, ex: Execution, text: str) -> str:
        """Text Suna (or a provider) wrote, without any of the user's keys in it."""
        if self._key_ring is None:
            return text
        row = await self._pool.fetchrow(f"SELECT {sealed_keys_sql('$1')}", ex.user_id)
        try:
            keys = open_sealed(self._key_ring, ex.user_id, row["key_services"], row["key_sealed"])
        except CredentialError:  # cannot be scrubbed: not recorded either
            return "(Suna's text withheld: the user's keys could not be opened to remove them)"
        return scrub(text, keys.values())

    async def _output(
        self, ex: Execution, step: dsl.PlanStep, attempt: int, run_id: str, thread_id: str,
        forwarded: frozenset[str] | None = None,
    ) -> tuple[RunOutput | None, UsageRow | None]:  # fmt: skip
        """The run's output and its priced usage row (None, None: Suna would not say).

        Suna is asked again on transient failures, as for every other call. The
        usage is billed to the user's key when the start forwarded one for the
        model's provider; a re-attached run is judged by the keys stored now.
        """
        model = self.model_of(step)
        try:
            output = await self._transient(
                lambda: ex.suna.run_output(thread_id, requested_model=model),
                time.monotonic() + 30,
            )
        except SunaError as exc:
            _log.warning("could not read the output of run %s: %s", run_id, type(exc).__name__)
            return None, None
        if forwarded is None:  # a run this worker did not start: the keys stored now
            forwarded = await services_of(self._pool, ex.user_id) if self._forward_keys \
                else frozenset()
        return output, UsageRow.of(
            run_id, user_id=ex.user_id, team_id=ex.team_id, execution_id=ex.id, step_id=step.id,
            attempt=attempt, agent_id=step.agent_id, usage=output.usage,
            forwarded=forwarded, suna_account=ex.account.caller.kind,
            unpriced_usd=self._ledger.unpriced_usd)  # fmt: skip

    async def _stop_quietly(self, suna: SunaClient, run_id: str) -> None:
        try:
            await suna.stop_run(run_id)
        except SunaError as exc:
            _log.warning("could not stop run %s: %s", run_id, type(exc).__name__)

    async def _stop(self, suna: SunaClient, run_id: str) -> tuple[bool, AgentRun | None]:
        """Stop a run still running, then wait for its end: whether that end holds now, so
        that its usage may be read (else it is read later, by renum.engine.reconcile), and
        the run if it was already over (not stopped, then).

        A run already over is not stopped (Suna's stop marks even a completed run
        stopped). A stopped run's end holds at once where stops last (``v1``); before
        that a stop can be lost and the run complete after all, so its usage is read
        once the reconciler finds it over (``usage_retry_s`` later at the earliest).
        """
        try:
            run: AgentRun | None = await suna.get_run(run_id)
        except SunaError:
            run = None  # unknown: stopping a finished run costs less than leaving one on
        if run is not None and run.is_terminal:
            return True, run
        await self._stop_quietly(suna, run_id)
        if await self._seen_over(suna, run_id) is None:
            return False, None
        return (await suna.routes()).lasting_stops, None

    async def _seen_over(self, suna: SunaClient, run_id: str) -> RunResult | None:
        """The end of a run just stopped, once Suna says it is over (None: not within
        STOP_SETTLE_S, or Suna would not say)."""
        try:
            return await suna.wait_for_run(run_id, timeout_s=STOP_SETTLE_S)
        except SunaError as exc:
            _log.warning("stopped run %s not seen over: %s", run_id, type(exc).__name__)
            return None

    async def stop_attempt(self, ex: Execution, step_id: str) -> None:
        """Stop whatever Suna runs the step's latest attempt has (cancel)."""
        row = await self._pool.fetchrow(
            """SELECT suna_thread_id, suna_run_id FROM step_runs
                WHERE execution_id = $1 AND step_id = $2 ORDER BY attempt DESC LIMIT 1""",
            ex.id, step_id,
        )  # fmt: skip
        if row is None:
            return
        # Only runs Suna says are running: its stop route marks even a finished run stopped.
        run_ids: set[str] = set()
        try:
            if row["suna_thread_id"]:
                runs = await ex.suna.list_thread_runs(row["suna_thread_id"], expect_run=True)
                run_ids = {r.id for r in runs if not r.is_terminal}
            elif row["suna_run_id"]:
                run = await ex.suna.get_run(row["suna_run_id"])
                run_ids = set() if run.is_terminal else {run.id}
        except SunaError as exc:
            _log.warning("could not list the runs of step %s: %s", step_id, type(exc).__name__)
        await asyncio.gather(*(self._stop_quietly(ex.suna, r) for r in run_ids))

    async def record_stopped_usage(self, ex: Execution, step: dsl.PlanStep) -> None:
        """Record the usage of the step's latest run once it is stopped (cancel, fail-fast).

        A stopped run cost tokens too; the ledger's unique run id keeps it to one row.
        """
        row = await self._pool.fetchrow(
            """SELECT attempt, suna_thread_id, suna_run_id FROM step_runs
                WHERE execution_id = $1 AND step_id = $2 AND suna_thread_id IS NOT NULL
                ORDER BY attempt DESC LIMIT 1""",
            ex.id, step.id,
        )  # fmt: skip
        if row is None:
            return
        run_id: str | None = row["suna_run_id"]
        if run_id is None:  # started, but its id not yet recorded: the thread knows it
            try:
                runs = await ex.suna.list_thread_runs(row["suna_thread_id"], expect_run=True)
            except SunaError as exc:
                _log.warning("could not list the runs of step %s: %s", step.id,
                             type(exc).__name__)  # fmt: skip
                return
            if not runs:
                return
            run_id = runs[0].id
        seen = await self._seen_over(ex.suna, run_id)
        if seen is not None and (seen.status != "stopped"
                                 or (await ex.suna.routes()).lasting_stops):  # fmt: skip
            # over for good (see _stop): its usage now, and how it really ended
            _, usage = await self._output(ex, step, row["attempt"], run_id,
                                          row["suna_thread_id"])  # fmt: skip
            if usage is not None:
                await self._ledger.record_row(usage)
                if seen.status != "stopped":  # it ended before the stop could land
                    await self._pool.execute(
                        """UPDATE step_runs SET error = coalesce(error, '{}') ||
                                  jsonb_build_object('suna_run_ended', $4::text)
                            WHERE execution_id = $1 AND step_id = $2 AND attempt = $3""",
                        ex.id, step.id, row["attempt"], seen.status,
                    )  # fmt: skip
                return
        await self._pool.execute(  # it cost tokens all the same: read it again later
            f"""UPDATE step_runs SET suna_run_id = coalesce(suna_run_id, $4), {unread_sql("$5")},
                       updated_at = now()
                 WHERE execution_id = $1 AND step_id = $2 AND attempt = $3""",
            ex.id, step.id, row["attempt"], run_id, self._usage_retry_s,
        )  # fmt: skip

    async def _finish(
        self, ex: Execution, step: dsl.PlanStep, attempt: int, run_id: str | None,
        thread_id: str | None, outcome: AttemptOutcome, usage: UsageRow | None = None,
        then: Followup | None = None,
    ) -> AttemptOutcome:  # fmt: skip
        """Record the outcome, its events, the run's usage row and (completed) the step's
        part of the context snapshot, in one statement; then copy events and part to Redis.

        The usage row is inserted once per run id (a take-over that finishes the
        same run adds nothing), and its event only when it was. ``then`` (see
        :class:`Followup`) is written by the same statement, after this step's events.
        """
        result = outcome.result
        base = {"step_id": step.id, "attempt": attempt, "suna_run_id": run_id}
        kinds: list[tuple[str, dict[str, Any]]] = []
        if usage is not None and usage.event is not None:
            kinds.append(("usage_recorded", usage.event))
        if result is not None:
            kinds.append(("step_output", {
                **base, "answer": result.text[:EVENT_ANSWER_CHARS],
                "truncated": len(result.text) > EVENT_ANSWER_CHARS,
                "output": result.data if result.has_data else None}))  # fmt: skip
        will_retry = (outcome.status == "failed" and outcome.retryable
                      and attempt < step.options.retry.max_attempts)  # fmt: skip
        kinds.append((_FINISH_EVENT[outcome.status], {
            **base, "error": outcome.error, "will_retry": will_retry}))  # fmt: skip
        then = then or Followup()
        openings, completes = then.openings, then.completes is not None
        kinds.extend(("step_started", {"step_id": o.step.id, "agent_id": o.step.agent_id,
                                       "attempt": 1}) for o in openings)  # fmt: skip
        if completes:
            kinds.append(("execution_completed", {"status": "completed", "error": None}))
        args: list[Any] = [
            ex.id, step.id, attempt, outcome.status, result.text if result else None,
            {"data": result.data} if result and result.has_data else None,
            {**outcome.error, "retryable": outcome.retryable} if outcome.error else None,
            [k for k, _ in kinds], [d for _, d in kinds]]  # fmt: skip

        def param(value: Any) -> str:
            args.append(value)
            return f"${len(args)}"

        run = param(run_id)
        # A run whose usage could not be read is read again later (renum.engine.reconcile).
        unread = param(self._usage_retry_s if run_id is not None and usage is None else None)
        if usage is None:
            usage_cte, usage_at, types, datas = "", "NULL::timestamptz", "$8", "$9"
        else:  # the usage event (first) only if the row is new
            usage_cte = usage_insert_sql(
                param(usage.row), when="EXISTS (SELECT 1 FROM held)" if completes else "true"
            ) + ","
            usage_at = "(SELECT created_at FROM u)"
            types = _IF_NEW_USAGE.format("$8::text[]", "($8::text[])[2:]")
            datas = _IF_NEW_USAGE.format("$9::jsonb", "$9::jsonb - 0")
        part = None if outcome.status != "completed" or result is None else ex.context.part(
            step.id, result)  # fmt: skip
        snap = "" if part is None else snapshot_merge_sql(
            "$1::uuid", param(part), when="EXISTS (SELECT 1 FROM r)") + ","  # fmt: skip
        opens, opened_cols, held, mine = "", "", "", ""
        if completes:  # only while the lease is ours, as _finalize: the row is locked first
            held = _HELD_SQL.format(driving=driving_sql(param(self._worker_id)))
            mine = "AND EXISTS (SELECT 1 FROM held)"
        if openings:
            worker = param(self._worker_id)
            opens = _OPEN_NEXT_SQL.format(
                worker=worker, ids=param([o.step.id for o in openings]),
                agents=param([o.step.agent_id for o in openings]),
                prompts=param([o.prompt for o in openings]),
                threads=param([o.thread.thread_id for o in openings]),
                projects=param([o.thread.project_id for o in openings]))  # fmt: skip
            opened_cols = (f", {held_sql('$1', worker)} AS lease_held,"
                           f" {sealed_keys_sql(param(ex.user_id))}")  # fmt: skip
        row = await self._pool.fetchrow(
            f"""WITH {held} {usage_cte} r AS (
                  UPDATE step_runs SET status = $4, answer = $5, output = $6, error = $7,
                         suna_run_id = coalesce(suna_run_id, {run}), finished_at = now(),
                         {unread_sql(unread)}, updated_at = now()
                   WHERE execution_id = $1 AND step_id = $2 AND attempt = $3 {mine}
               RETURNING extract(epoch FROM finished_at - started_at)::float8 AS duration_s),
               {snap} {opens}
               {append_events_sql("$1::uuid", types, datas, when="EXISTS (SELECT 1 FROM r)",
                                  also_set=_COMPLETED_SET if completes else "")}
               SELECT (SELECT duration_s FROM r) AS duration_s, {usage_at} AS usage_at,
                      {EVENTS_APPENDED} {opened_cols}""",
            *args,
        )
        duration_s = row["duration_s"]
        new_usage = usage is not None and row["usage_at"] is not None
        if usage is not None and usage.event is not None and not new_usage:
            kinds = kinds[1:]
        events = events_appended(ex.id, kinds, row)
        if completes and duration_s is None:
            raise LeaseLostError(ex.id)  # nothing was written: the new owner finishes the step
        live = None if part is None or not events else LiveContext.of(
            ex.id, part if then.completes is None else then.completes)  # fmt: skip
        if usage is not None and new_usage:
            await self._ledger.recorded(usage, row["usage_at"], events, live)
        else:
            await self._events.publish(events, live)
        if duration_s is not None:
            metrics.STEP_DURATION.labels(outcome.status).observe(max(0.0, duration_s))
        if completes:
            return replace(outcome, completed_execution=True)
        if not openings or duration_s is None:
            return outcome
        return replace(outcome, opened=tuple(Opened(o, {
            "suna_run_id": None, "suna_thread_id": o.thread.thread_id,
            "suna_project_id": o.thread.project_id, "inserted": True,
            "prompt": o.prompt, "lease_held": row["lease_held"],
            "key_services": row["key_services"], "key_sealed": row["key_sealed"],
        }) for o in openings))  # fmt: skip


#: The ``held`` CTE of _finish when the execution completes: its row, locked, while ours.
_HELD_SQL = """held AS (
          SELECT 1 FROM executions WHERE id = $1 AND {driving} FOR UPDATE),"""
#: What completing an execution sets (as the driver's _finalize does).
_COMPLETED_SET = finish_set_sql("'completed'", "NULL")
#: The ``nx`` CTE of _finish: first attempts of the next steps, as _open writes them.
_OPEN_NEXT_SQL = """nx AS (
          INSERT INTO step_runs (execution_id, step_id, attempt, status, agent_id, prompt,
                                 worker_id, started_at, suna_thread_id, suna_project_id)
          SELECT $1, s.step_id, 1, 'running', s.agent_id, s.prompt, {worker}, now(),
                 s.thread_id, s.project_id
            FROM unnest({ids}::text[], {agents}::text[], {prompts}::text[], {threads}::text[],
                        {projects}::text[]) AS s(step_id, agent_id, prompt, thread_id, project_id)
           WHERE EXISTS (SELECT 1 FROM r)
       RETURNING 1),"""
#: Events (types, data) whose first one (the usage event) stays only if ``u`` inserted a row.
_IF_NEW_USAGE = "(CASE WHEN EXISTS (SELECT 1 FROM u) THEN {0} ELSE {1} END)"
_FINISH_EVENT = {"completed": "step_completed", "failed": "step_failed",
                 "cancelled": "step_cancelled"}  # fmt: skip


def _attributable(sent: Mapping[str, str]) -> frozenset[str]:
    """The services whose key a start carried, as far as a usage row may say so."""
    return frozenset(service for service, value in sent.items() if plausible_key(value))


def project_of(execution_id: str) -> str:
    """The one Suna project an execution's threads share where the caller names projects
    (``agent-start``, ``v1``): one sandbox per execution, its files seen by every agent of
    the team, and no new sandbox for a retry. The same id after any crash."""
    return str(uuid.uuid5(PROJECT_NAMESPACE, execution_id))


def _transient_pause(exc: SunaError, failures: int) -> float:
    """Wait before trying again after the ``failures``-th transient failure in a row."""
    told = getattr(exc, "retry_after", None) or getattr(exc, "retry_in_s", None)
    if told:
        return float(told)
    if failures < len(TRANSIENT_BACKOFF_S):
        return TRANSIENT_BACKOFF_S[failures]
    return TRANSIENT_BACKOFF_S[-1] * random.uniform(0.75, 1.25)


def _limit_backoff(times: int) -> float:
    """Wait before trying a start again after Suna's parallel-run limit (no Retry-After)."""
    return float(min(RATE_LIMIT_MAX_WAIT_S, 0.1 * 2**times) * random.uniform(0.75, 1.25))
