"""Waiting for a run to end: stream first, confirm always, poll as a last resort.

``api-2025`` and ``agent-start`` replay the whole run on every connection, so
events are de-duplicated (by ``message_id``; by ``(thread_run_id, sequence)``
for chunks; by content and occurrence for the rest). ``v1`` gives each event
an ``_event_id``: a reconnect asks only for what follows the last one seen
(``?last_id=``), and the id is the de-duplication key. Whatever the stream
said last, the final status comes from ``GET agent-run`` (a stream opened on
a finished run says ``completed`` even when it failed), re-read briefly if
Suna has not written it yet. A stream that sends only pings for
``Timeouts.stream_idle_s`` is checked the same way. A run missing (404) in
the first ``Timeouts.late_run_s`` is waited for (``v1`` writes its row late).
A stream that breaks is reopened with backoff; after
``RetryPolicy.stream_reconnects`` fruitless tries, waiting polls with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Callable, Hashable
from contextlib import aclosing
from typing import TYPE_CHECKING

from .errors import (
    SunaCircuitOpenError,
    SunaConnectionError,
    SunaError,
    SunaNotFoundError,
    SunaProtocolError,
    SunaRateLimitedError,
    SunaServerError,
    SunaTimeoutError,
)
from .models import AgentRun, MessageRow, PingEvent, RunResult, RunStatusEvent, StreamEvent
from .sse import iter_events

if TYPE_CHECKING:
    from .client import SunaClient
    from .flavours import Routes

__all__ = ["OnEvent", "RunWaiter"]

OnEvent = Callable[[StreamEvent], None]
"""Called once per distinct stream event (pings and replays excluded)."""

TRANSIENT: tuple[type[SunaError], ...] = (
    SunaConnectionError,
    SunaTimeoutError,
    SunaProtocolError,
    SunaServerError,
    SunaCircuitOpenError,
    SunaRateLimitedError,
)
_log = logging.getLogger("suna_client.wait")
LATE_PAUSE_S = 0.01
"""First wait before asking again for a run whose row is not written yet (doubles)."""
LATE_PAUSE_MAX_S = 0.25


def event_key(raw: str, event: StreamEvent) -> Hashable:
    """What identifies ``event`` across the replays of one run's stream."""
    if isinstance(event, MessageRow | RunStatusEvent) and event.event_id:
        return ("e", event.event_id)
    if isinstance(event, MessageRow):
        if event.message_id:
            return ("m", event.message_id)
        if event.sequence is not None:
            return ("s", event.metadata.get("thread_run_id"), event.sequence)
    return ("r", raw)


class RunWaiter:
    """One ``wait_for_run`` call's state: what was seen, how often it reconnected."""

    def __init__(
        self, client: SunaClient, routes: Routes, run_id: str, *, on_event: OnEvent | None,
        caller_token: str | None,
    ) -> None:
        self._client = client
        self._routes = routes
        self._closing = routes.closing_statuses
        self._run_id = run_id
        self._last_id: str | None = None
        late_s = client.timeouts.late_run_s if routes.flavour == "v1" else 0.0
        self._late_until = time.monotonic() + late_s
        self._late_pause = LATE_PAUSE_S
        self._on_event = on_event
        self._caller_token = caller_token
        self._seen: dict[Hashable, int] = {}
        self._events = 0
        self._reconnects = 0
        self._polled = False
        self._stream_status: str | None = None

    def _result(self, run: AgentRun) -> RunResult:
        return RunResult(
            run=run,
            stream_status=self._stream_status,
            events=self._events,
            reconnects=self._reconnects,
            polled=self._polled,
        )

    async def run(self) -> RunResult:
        """Until the run is confirmed over (the caller bounds the total time)."""
        failures = 0
        policy = self._client.retry_policy
        while failures <= policy.stream_reconnects:
            try:
                progressed, final = await self._stream_once()
                run = await self._confirm(final)
                if run is not None:
                    return self._result(run)
                failures = 1 if progressed else failures + 1
                pause = self._client.backoff_s(failures)
                _log.debug("stream of %s closed while running; reopening", self._run_id)
            except SunaNotFoundError:
                if time.monotonic() >= self._late_until:
                    raise
                _log.debug("run %s not found yet; asking again", self._run_id)
                await asyncio.sleep(self._late_pause)  # not written yet: no failure
                self._late_pause = min(self._late_pause * 2, LATE_PAUSE_MAX_S)
                continue
            except TRANSIENT as exc:
                failures += 1
                pause = self._pause(exc, failures)
                _log.info("stream of run %s broke (%s); try %d", self._run_id, exc, failures)
            if failures <= policy.stream_reconnects:
                await asyncio.sleep(pause)
                self._reconnects += 1
        self._polled = True
        _log.warning("stream of run %s keeps breaking; polling", self._run_id)
        return self._result(await self._poll())

    def _pause(self, exc: SunaError, failures: int) -> float:
        if isinstance(exc, SunaCircuitOpenError):
            return max(exc.retry_in_s, 0.01)
        if isinstance(exc, SunaRateLimitedError) and exc.retry_after is not None:
            return min(exc.retry_after, self._client.retry_policy.retry_after_max_s)
        return self._client.backoff_s(failures)

    async def _stream_once(self) -> tuple[bool, bool]:
        """Follow one connection: (whether it brought new events, whether it ended the run)."""
        call = self._client.transport.build_call(
            "GET", self._routes.stream, idempotent=True, ids=(self._run_id,),
            caller_token=self._caller_token,
            params={"last_id": self._last_id} if self._last_id else None,
        )
        async with self._client.transport.stream(call) as resp:
            rid = resp.headers.get("X-Request-ID", call.request_id)
            events = iter_events(resp, route=call.route, request_id=rid, secrets=call.secrets)
            async with aclosing(events):
                return await self._consume(events)

    async def _consume(
        self, events: AsyncGenerator[tuple[str, StreamEvent], None]
    ) -> tuple[bool, bool]:
        progressed = False
        counts: dict[Hashable, int] = {}
        idle_s = self._client.timeouts.stream_idle_s
        data_at = time.monotonic()
        async for raw, event in events:
            if isinstance(event, PingEvent):
                if time.monotonic() - data_at < idle_s:
                    continue
                if await self._over():  # pings alone for too long: ask Suna
                    return progressed, True
                data_at = time.monotonic()
                continue
            data_at = time.monotonic()
            event_id = getattr(event, "event_id", None)
            if event_id:
                self._last_id = event_id
            key = event_key(raw, event)
            nth = counts.get(key, 0)
            counts[key] = nth + 1
            if nth >= self._seen.get(key, 0):
                self._seen[key] = nth + 1
                self._events += 1
                progressed = True
                if self._on_event is not None:
                    self._on_event(event)
            if isinstance(event, RunStatusEvent):
                self._stream_status = event.status
                if event.status in self._closing:
                    return progressed, True
        return progressed, False

    async def _over(self) -> bool:
        """Whether ``GET agent-run`` says the run is over."""
        run = await self._client.get_run(self._run_id, caller_token=self._caller_token)
        return run.is_terminal

    async def _confirm(self, final: bool) -> AgentRun | None:
        """The run if ``GET agent-run`` says it is over; re-read briefly after a final event."""
        run = await self._client.get_run(self._run_id, caller_token=self._caller_token)
        if run.is_terminal or not final:
            return run if run.is_terminal else None
        deadline = time.monotonic() + self._client.timeouts.confirm_s
        delay = 0.005
        while time.monotonic() < deadline:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)
            run = await self._client.get_run(self._run_id, caller_token=self._caller_token)
            if run.is_terminal:
                return run
        return None

    async def _poll(self) -> AgentRun:
        policy = self._client.retry_policy
        delay = policy.poll_initial_s
        while True:
            try:
                run = await self._client.get_run(self._run_id, caller_token=self._caller_token)
                if run.is_terminal:
                    return run
                pause = delay
            except TRANSIENT as exc:
                pause = max(delay, self._pause(exc, 1))
            await asyncio.sleep(pause)
            delay = min(delay * 2, policy.poll_max_s)
