"""A worker process: reads the queue, holds leases, drives executions concurrently.

Four loops share one event loop: *consume* (new queue entries, and entries a
dead worker left pending, via ``XAUTOCLAIM``), *heartbeat* (renews every lease
this worker holds, learns of cancel requests and has steps waiting for keys
re-check), *listen* (cancel and stored-key notices on Redis pub/sub, for
sub-second cancels and resumes) and *sweep* (re-enqueues executions
PostgreSQL holds as unfinished with no live lease: a crash between launch and
enqueue, a lost Redis; and records the usage of runs that could not be read
when their attempt ended, renum.engine.reconcile; dispatches executions waiting their
turn, renum.dispatch; deletes what retention expired, renum.retention); a fifth sends
due completion webhooks
(renum.webhooks). In burst mode the worker exits once the queue is empty and
nothing is in flight (tests and batch jobs).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import socket
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from redis.exceptions import RedisError

from renum import metrics
from renum.budgets import BudgetGuard
from renum.dispatch import promote, promote_due
from renum.engine import leases
from renum.engine.driver import DriverDeps, ExecutionDriver
from renum.engine.infra import is_infrastructure_error
from renum.engine.queue import ExecutionQueue, QueueEntry
from renum.engine.reconcile import UsageReconciler
from renum.engine.steps import LeaseLostError, StepRunner
from renum.events import EventLog
from renum.redis_keys import BUDGETS_CHANNEL, CANCEL_CHANNEL, KEYS_CHANNEL
from renum.resources import Resources
from renum.retention import purge_expired
from renum.usage import UsageLedger
from renum.webhooks import WebhookDispatcher
from suna_client import SunaClient

__all__ = ["Worker", "WorkerConfig", "tune_gc"]

_log = logging.getLogger("renum.engine.worker")
#: Pause before reading the queue again after a Redis error.
REDIS_RETRY_S = 1.0
#: Advisory lock held while sweeping, so one worker sweeps at a time.
SWEEP_LOCK_KEY = 0x72656E7377
#: Net allocations between two collections of the young generation in a worker
#: (CPython's own threshold is 700); see tune_gc.
GC_YOUNG_THRESHOLD = 10_000


@dataclass(frozen=True)
class WorkerConfig:
    """Tuning of a worker; the defaults suit production."""

    concurrency: int = 200
    """Executions one worker drives at once."""
    lease_ttl_s: float = 30.0
    """A lease not renewed for this long may be taken over."""
    heartbeat_s: float = 5.0
    """How often leases are renewed (and cancel flags read)."""
    claim_idle_ms: int = 30_000
    """Queue entries pending this long with another consumer are claimed."""
    sweep_interval_s: float = 10.0
    """How often unfinished executions without a live lease are re-enqueued."""
    sweep_grace_s: float = 5.0
    """A queued execution younger than this is left to its launch's own enqueue."""
    read_block_ms: int = 1_000
    """How long one queue read blocks."""
    burst: bool = False
    """Exit when the queue is empty and nothing is in flight."""
    webhook_poll_s: float = 1.0
    """How often due webhook deliveries are looked for (renum.webhooks)."""
    usage_retry_s: float = 30.0
    """First wait before a run's unreadable usage is read again (renum.engine.reconcile)."""


def tune_gc() -> None:
    """Collect the young generation after 10,000 net allocations, not CPython's 700.

    Called once by ``renum worker`` (and bench/ where it runs a worker in its
    own process). A step's objects are freed by reference counting as it goes,
    so the collector finds little among them, yet walks every young object
    each time it runs. bench/instructions.py measured 9.91 -> 9.67 M
    instructions per step of one-step executions, 8.23 -> 8.13 M of five-step
    ones. Cyclic garbage is still collected, a little later; the older
    generations keep CPython's thresholds.
    """
    _young, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


def default_worker_id() -> str:
    """host:pid:random — unique per process, readable in the leases table."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    """Drives executions from the queue until stopped."""

    def __init__(
        self, resources: Resources, suna: SunaClient, config: WorkerConfig | None = None,
        *, worker_id: str | None = None,
    ) -> None:  # fmt: skip
        self.config = config or WorkerConfig()
        self.worker_id = worker_id or default_worker_id()
        self._pool = resources.pool
        self._redis = resources.redis
        self.queue = ExecutionQueue(resources.redis)
        events = EventLog(resources.pool, resources.redis)
        self._budgets = budgets = BudgetGuard(
            resources.pool, resources.redis,
            default_estimate_usd=resources.settings.step_cost_estimate_usd,
            counter_ttl_s=resources.settings.budget_counter_ttl_s,
            unpriced_estimate_usd=resources.settings.unpriced_step_estimate_usd,
        )  # fmt: skip
        unpriced = resources.settings.unpriced_step_estimate_usd
        ledger = UsageLedger(resources.pool, events, budgets, unpriced_usd=unpriced
                             if unpriced is not None
                             else resources.settings.step_cost_estimate_usd)  # fmt: skip
        runner = StepRunner(resources.pool, events, suna, ledger, self.worker_id,
                            key_ring=resources.settings.key_ring,
                            usage_retry_s=self.config.usage_retry_s,
                            default_model=resources.settings.suna_default_model,
                            forward_keys=resources.settings.suna_forward_provider_keys,
                            account_id=resources.settings.suna_account_id)  # fmt: skip
        forward = resources.settings.suna_forward_provider_keys
        self._reconciler = UsageReconciler(resources.pool, runner.accounts, ledger,
                                           retry_s=self.config.usage_retry_s,
                                           forward_keys=forward)  # fmt: skip
        self._deps = DriverDeps(resources.pool, events, runner, self.worker_id,
                                credential_wait_s=resources.settings.credential_wait_s,
                                budgets=budgets)  # fmt: skip
        self._condition_threads = resources.settings.condition_threads
        self._drivers: dict[str, ExecutionDriver] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(self.config.concurrency)
        self._drove = False  # whether this worker has taken an execution yet
        self._stopping = asyncio.Event()
        self._user_concurrency = resources.settings.user_concurrency
        self._retention_days = resources.settings.retention_days
        self._webhooks = WebhookDispatcher(resources.pool, resources.settings,
                                           poll_s=self.config.webhook_poll_s)  # fmt: skip

    @property
    def in_flight(self) -> int:
        """Executions this worker is driving now."""
        return len(self._tasks)

    def stop(self) -> None:
        """Ask the worker to stop: running drivers are released, not cancelled."""
        self._stopping.set()

    async def run(self) -> None:
        """Run until :meth:`stop` (or, in burst mode, until there is nothing to do)."""
        await self.queue.ensure_group()
        # few threads: a flood of costly conditions queues for them, the event loop runs on
        conditions = ThreadPoolExecutor(self._condition_threads, "renum-conditions")
        self._deps = replace(self._deps, conditions=conditions)
        loops = [asyncio.create_task(c) for c in (self._heartbeat(), self._listen(),
                                                  self._sweep(), self._webhooks.run())]  # fmt: skip
        try:
            await self._consume()
        finally:
            self._stopping.set()
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            await self._release_all()
            conditions.shutdown(wait=False, cancel_futures=True)  # a decision ends in its budget

    # --- consume -------------------------------------------------------------

    async def _consume(self) -> None:
        idle_reads = 0
        while not self._stopping.is_set():
            free = self.config.concurrency - len(self._tasks)
            if free <= 0:
                await self._slot_or_stop()  # wait for a driver to finish, or for stop()
                continue
            try:
                entries = await self.queue.claim_stale(
                    self.worker_id, min_idle_ms=self.config.claim_idle_ms, count=free
                )
                if not entries:
                    entries = await self.queue.read(
                        self.worker_id, count=free, block_ms=self._read_block_ms(idle_reads)
                    )
            except (RedisError, OSError) as exc:  # Redis away: the sweeper re-enqueues later
                _log.warning("queue read failed (%s); retrying", type(exc).__name__)
                await asyncio.sleep(REDIS_RETRY_S)
                continue
            for entry in entries:
                await self._take(entry)
            if self.config.burst:
                idle_reads = 0 if entries or self._tasks else idle_reads + 1
                if idle_reads >= 2 and not await self._unfinished_exists():
                    return

    def _read_block_ms(self, idle_reads: int) -> int | None:
        """How long the next queue read blocks (None: not at all).

        A burst worker whose work is done (it drove something, nothing is in flight)
        reads without blocking until it has seen the queue empty twice: Redis times
        blocked reads out only on its ~10 Hz cron when idle, so a 20 ms block can take
        100, and the exit would wait for two of them. It blocks again while unfinished
        executions remain elsewhere, and, as before, while it has not driven anything.
        """
        if self.config.burst and self._drove and not self._tasks and idle_reads < 2:
            return None
        return self.config.read_block_ms

    async def _slot_or_stop(self) -> None:
        """Wait until a slot frees up or the worker is asked to stop (a full worker still stops)."""
        slot = asyncio.create_task(self._slots.acquire())
        stop = asyncio.create_task(self._stopping.wait())
        await asyncio.wait((slot, stop), return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if slot.done():
            self._slots.release()
        else:
            slot.cancel()

    async def _unfinished_exists(self) -> bool:
        return bool(await self._pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM executions WHERE status = ANY($1::text[]))",
            list(leases.ACTIVE_STATUSES)))  # fmt: skip

    async def _take(self, entry: QueueEntry) -> None:
        if entry.execution_id in self._tasks:  # a duplicate delivery: already ours
            await self.queue.ack(entry.entry_id)
            return
        try:
            row = await leases.acquire(
                self._pool, entry.execution_id, self.worker_id, self.config.lease_ttl_s
            )
        except Exception as exc:  # e.g. not a uuid: drop the entry, never crash the loop
            _log.warning("cannot take %s: %s", entry.execution_id, type(exc).__name__)
            await self.queue.ack(entry.entry_id)
            return
        if row is None:  # finished, or driven by a live worker
            await self.queue.ack(entry.entry_id)
            return
        driver = ExecutionDriver(self._deps, row)
        self._drove = True
        self._drivers[driver.execution_id] = driver
        await self._slots.acquire()
        metrics.EXECUTIONS_IN_FLIGHT.inc()
        self._tasks[driver.execution_id] = asyncio.create_task(
            self._drive(driver, entry), name=f"drive:{driver.execution_id}"
        )

    async def _drive(self, driver: ExecutionDriver, entry: QueueEntry) -> None:
        execution_id = driver.execution_id
        try:
            status = await driver.run()
            _log.info("execution %s %s", execution_id, status)
            await self.queue.ack(entry.entry_id)
            # it ended or parked: one of its user's places is free for the next one
            await promote(self._pool, self._redis, driver.user_id, self._user_concurrency)
        except LeaseLostError:
            _log.warning("lost the lease of %s; another worker has it", execution_id)
            await self.queue.ack(entry.entry_id)
        except asyncio.CancelledError:
            pass  # stopping or lease lost: the entry stays pending for a take-over
        except Exception as exc:
            if is_infrastructure_error(exc):
                _log.warning("driving %s stopped (%s); it will be taken over",
                             execution_id, type(exc).__name__)
            else:
                _log.exception("driving %s failed; failing the execution", execution_id)
                error = {"code": "internal_error", "message": type(exc).__name__}
                with contextlib.suppress(Exception):
                    await driver.fail(error)
                    await self.queue.ack(entry.entry_id)
            with contextlib.suppress(Exception):
                await leases.release(self._pool, execution_id, self.worker_id)
        finally:
            metrics.EXECUTIONS_IN_FLIGHT.dec()
            self._drivers.pop(execution_id, None)
            self._tasks.pop(execution_id, None)
            self._slots.release()

    # --- heartbeat, cancel notices, sweeper ------------------------------------

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.config.heartbeat_s)
            held = list(self._drivers)
            try:
                kept = await leases.renew(self._pool, self.worker_id, held,
                                          self.config.lease_ttl_s)  # fmt: skip
            except Exception as exc:
                _log.warning("lease renewal failed: %s", type(exc).__name__)
                continue
            for execution_id in held:
                if execution_id not in kept:
                    task = self._tasks.get(execution_id)
                    if task is not None:
                        task.cancel()  # someone else drives it now: let go without stopping runs
                elif kept[execution_id]:
                    self._drivers[execution_id].request_cancel()
                else:  # the fallback of a lost key notice: steps waiting for keys re-check
                    self._drivers[execution_id].keys_changed()

    async def _listen(self) -> None:
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(CANCEL_CHANNEL, KEYS_CHANNEL, BUDGETS_CHANNEL)
                    async for message in pubsub.listen():
                        if message.get("type") != "message":
                            continue
                        if message.get("channel") == KEYS_CHANNEL:
                            self._keys_stored(str(message["data"]))
                            continue
                        if message.get("channel") == BUDGETS_CHANNEL:
                            self._budgets.forget(str(message["data"]))
                            continue
                        driver = self._drivers.get(str(message["data"]))
                        if driver is not None:
                            driver.request_cancel()
            except (RedisError, OSError) as exc:
                _log.warning("cancel listener lost redis (%s); reconnecting", type(exc).__name__)
                await asyncio.sleep(1.0)

    def _keys_stored(self, user_id: str) -> None:
        """A user stored a key: that user's executions waiting for credentials re-check."""
        for driver in list(self._drivers.values()):
            if driver.user_id == user_id:
                driver.keys_changed()

    async def _sweep(self) -> None:
        while True:
            try:
                await self._sweep_once()
            except Exception as exc:
                _log.warning("sweep failed: %s", type(exc).__name__)
            try:
                await self._reconciler.run_once()
            except Exception as exc:
                _log.warning("usage reconciliation failed: %s", type(exc).__name__)
            try:
                await purge_expired(self._pool, self._redis, self._retention_days)
            except Exception as exc:
                _log.warning("retention sweep failed: %s", type(exc).__name__)
            await asyncio.sleep(self.config.sweep_interval_s)

    async def _sweep_once(self) -> int:
        """Re-enqueue unfinished executions nobody holds; one sweeper at a time."""
        async with self._pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", SWEEP_LOCK_KEY):
                return 0
            rows = await conn.fetch(
                """UPDATE executions SET updated_at = now()
                    WHERE status = ANY($1::text[]) AND dispatched
                      AND (lease_owner IS NULL OR lease_expires_at < now())
                      AND updated_at < now() - make_interval(secs => $2)
                RETURNING id""",
                list(leases.ACTIVE_STATUSES), self.config.sweep_grace_s,
            )  # fmt: skip
        for row in rows:
            await self.queue.enqueue(str(row["id"]))
        if rows:
            _log.info("sweeper re-enqueued %d execution(s)", len(rows))
        # executions waiting their turn or parked whose time came, and promotions lost
        await promote_due(self._pool, self._redis, self._user_concurrency)
        return len(rows)

    async def _release_all(self) -> None:
        held = list(self._drivers)
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for execution_id in held:
            with contextlib.suppress(Exception):
                await leases.release(self._pool, execution_id, self.worker_id)
