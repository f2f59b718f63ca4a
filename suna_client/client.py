"""The typed async client of the Suna API (routes and shapes of suna-api.md)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import aclosing
from types import TracebackType
from typing import Literal, Self

import aiohttp

from .auth import SunaAuth
from .breaker import BreakerState, CircuitBreaker
from .config import (
    DEFAULT_BREAKER,
    DEFAULT_POOL,
    DEFAULT_RETRY,
    DEFAULT_TIMEOUTS,
    BreakerConfig,
    PoolLimits,
    RetryPolicy,
    Timeouts,
)
from .errors import SunaTimeoutError
from .models import (
    AgentRun,
    AgentStarted,
    AgentStartRequest,
    InitiateRequest,
    InitiateResult,
    MessageRow,
    RunOutput,
    RunResult,
    RunUsage,
    StopResult,
    StreamEvent,
    ThreadCreated,
)
from .output import answer_from_messages, output_from_messages, usage_from_messages
from .sse import iter_events
from .transport import OnRequest, Transport
from .waiting import OnEvent, RunWaiter

__all__ = ["SunaClient"]

Keys = Mapping[str, str] | None


class SunaClient:
    """Async client of one Suna base URL over one ``aiohttp.ClientSession``.

    Use as ``async with SunaClient(url, auth=...) as suna``. An injected
    ``session`` is used as is and left open; without one the client creates
    (and closes) its own, with the connection limits of ``pool``. Every call
    takes ``extra_keys`` (service → plaintext, sent only as
    ``X-API-Key-<service>`` headers) and ``caller_token`` (a caller's bearer
    sent instead of the service ``auth``). ``breaker`` is a config (one
    breaker for this client's base URL) or a :class:`CircuitBreaker` shared by
    several clients of the same URL.
    """

    def __init__(
        self,
        base_url: str,
        *,
        session: aiohttp.ClientSession | None = None,
        auth: SunaAuth | None = None,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        retry: RetryPolicy = DEFAULT_RETRY,
        breaker: BreakerConfig | CircuitBreaker = DEFAULT_BREAKER,
        pool: PoolLimits = DEFAULT_POOL,
        on_request: OnRequest | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeouts = timeouts
        self.retry_policy = retry
        self._auth = auth
        self._pool = pool
        self._session = session
        self._owns_session = session is None
        self.breaker = (
            breaker
            if isinstance(breaker, CircuitBreaker)
            else CircuitBreaker(breaker, name=self.base_url)
        )
        self.transport = Transport(
            self.base_url, self._get_session, auth=auth, timeouts=timeouts, retry=retry,
            breaker=self.breaker, on_request=on_request,
        )

    def __repr__(self) -> str:
        return f"SunaClient({self.base_url!r}, auth={self._auth!r}, breaker={self.breaker_state!r})"

    @property
    def breaker_state(self) -> BreakerState:
        """``closed``, ``open`` or ``half_open``, for metrics and health checks."""
        return self.breaker.state

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or (self._owns_session and self._session.closed):
            connector = aiohttp.TCPConnector(
                limit=self._pool.limit, limit_per_host=self._pool.limit_per_host,
                keepalive_timeout=self._pool.keepalive_s,
            )
            self._session = aiohttp.ClientSession(connector=connector)
            self._owns_session = True
        return self._session

    async def __aenter__(self) -> Self:
        self._get_session()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the session if the client created it."""
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()

    def backoff_s(self, attempt: int) -> float:
        """The retry policy's wait before try ``attempt + 1``."""
        return self.transport.backoff_s(attempt)

    async def create_thread(
        self, name: str | None = None, *, extra_keys: Keys = None, caller_token: str | None = None
    ) -> ThreadCreated:
        """``POST /api/threads``: a new thread (and project) of the caller's account."""
        form = {"name": name} if name else {}
        call = self.transport.build_call(
            "POST", "/api/threads", idempotent=False, caller_token=caller_token,
            extra_keys=extra_keys, body=lambda: aiohttp.FormData(form),
        )
        return await self.transport.call(call, ThreadCreated.model_validate)

    async def add_message(
        self, thread_id: str, content: str, *, extra_keys: Keys = None,
        caller_token: str | None = None,
    ) -> MessageRow:
        """``POST /api/threads/{tid}/messages``: a user message; the stored row."""
        call = self.transport.build_call(
            "POST", "/api/threads/{tid}/messages", idempotent=False, ids=(thread_id,),
            caller_token=caller_token, extra_keys=extra_keys,
            json_body={"type": "user", "content": content, "is_llm_message": True},
        )
        return await self.transport.call(call, MessageRow.model_validate)

    async def start_agent(
        self, thread_id: str, request: AgentStartRequest | None = None, *,
        extra_keys: Keys = None, caller_token: str | None = None,
    ) -> AgentStarted:
        """``POST /api/thread/{tid}/agent/start``: a new run (never retried once sent)."""
        body = (request or AgentStartRequest()).model_dump(exclude_none=True)
        call = self.transport.build_call(
            "POST", "/api/thread/{tid}/agent/start", idempotent=False, ids=(thread_id,),
            caller_token=caller_token, extra_keys=extra_keys, json_body=body,
        )
        return await self.transport.call(call, AgentStarted.model_validate)

    async def initiate(
        self, request: InitiateRequest, *, files: Sequence[tuple[str, bytes]] = (),
        extra_keys: Keys = None, caller_token: str | None = None,
    ) -> InitiateResult:
        """``POST /api/agent/initiate``: thread, message and run in one call.

        Saves round trips but loses exactly-once starts (no thread id is known
        before the run exists); use only when that is acceptable.
        """
        fields = request.model_dump(exclude_none=True)

        def form() -> aiohttp.FormData:
            data = aiohttp.FormData()
            for key, value in fields.items():
                data.add_field(key, str(value).lower() if isinstance(value, bool) else str(value))
            for filename, content in files:
                data.add_field("files", content, filename=filename)
            return data

        call = self.transport.build_call(
            "POST", "/api/agent/initiate", idempotent=False, caller_token=caller_token,
            extra_keys=extra_keys, body=form,
        )
        return await self.transport.call(call, InitiateResult.model_validate)

    async def get_run(
        self, run_id: str, *, extra_keys: Keys = None, caller_token: str | None = None
    ) -> AgentRun:
        """``GET /api/agent-run/{rid}``: the run's status as Suna stored it."""
        call = self.transport.build_call(
            "GET", "/api/agent-run/{rid}", idempotent=True, ids=(run_id,),
            caller_token=caller_token, extra_keys=extra_keys,
        )
        return await self.transport.call(call, AgentRun.model_validate)

    async def stream_run(
        self, run_id: str, *, extra_keys: Keys = None, caller_token: str | None = None
    ) -> AsyncIterator[StreamEvent]:
        """The events of one stream connection, replay included, until Suna closes it.

        Raw and unconfirmed: prefer :meth:`wait_for_run` to learn how a run ended.
        """
        call = self.transport.build_call(
            "GET", "/api/agent-run/{rid}/stream", idempotent=True, ids=(run_id,),
            caller_token=caller_token, extra_keys=extra_keys,
        )
        async with self.transport.stream(call) as resp:
            rid = resp.headers.get("X-Request-ID", call.request_id)
            events = iter_events(resp, route=call.route, request_id=rid, secrets=call.secrets)
            async with aclosing(events):
                async for _, event in events:
                    yield event

    async def wait_for_run(
        self, run_id: str, *, timeout_s: float | None = None, on_event: OnEvent | None = None,
        caller_token: str | None = None,
    ) -> RunResult:
        """Until the run is over, its final status confirmed by ``GET agent-run``.

        Streams (no polling on the hot path); raises :class:`SunaTimeoutError`
        after ``timeout_s`` (default ``Timeouts.run_s``) in total.
        """
        budget = self.timeouts.run_s if timeout_s is None else timeout_s
        waiter = RunWaiter(self, run_id, on_event=on_event, caller_token=caller_token)
        try:
            async with asyncio.timeout(budget):
                return await waiter.run()
        except TimeoutError:
            raise SunaTimeoutError(
                f"run {run_id} not over after {budget:g} s", request_sent=True,
                method="GET", route="GET /api/agent-run/{rid}/stream",
            ) from None

    async def stop_run(
        self, run_id: str, *, extra_keys: Keys = None, caller_token: str | None = None
    ) -> StopResult:
        """``POST /api/agent-run/{rid}/stop`` (safe to repeat; Suna marks the run stopped)."""
        call = self.transport.build_call(
            "POST", "/api/agent-run/{rid}/stop", idempotent=True, ids=(run_id,),
            caller_token=caller_token, extra_keys=extra_keys,
        )
        return await self.transport.call(call, StopResult.model_validate)

    async def list_thread_runs(
        self, thread_id: str, *, extra_keys: Keys = None, caller_token: str | None = None
    ) -> list[AgentRun]:
        """``GET /api/thread/{tid}/agent-runs``: the thread's runs, newest first."""
        call = self.transport.build_call(
            "GET", "/api/thread/{tid}/agent-runs", idempotent=True, ids=(thread_id,),
            caller_token=caller_token, extra_keys=extra_keys,
        )
        return await self.transport.call(
            call, lambda data: [AgentRun.model_validate(r) for r in data["agent_runs"]]
        )

    async def get_messages(
        self, thread_id: str, *, order: Literal["asc", "desc"] = "desc", extra_keys: Keys = None,
        caller_token: str | None = None,
    ) -> list[MessageRow]:
        """``GET /api/threads/{tid}/messages`` (``optimized=false`` for later versions)."""
        call = self.transport.build_call(
            "GET", "/api/threads/{tid}/messages", idempotent=True, ids=(thread_id,),
            caller_token=caller_token, extra_keys=extra_keys,
            params={"order": order, "optimized": "false"},
        )
        return await self.transport.call(
            call, lambda data: [MessageRow.model_validate(r) for r in data["messages"]]
        )

    async def run_answer(self, thread_id: str, *, caller_token: str | None = None) -> str | None:
        """The run's answer: the last ``complete``/``ask`` call's text, else the assistant
        text without tool-call markup (see :func:`suna_client.answer_of`)."""
        rows = await self.get_messages(thread_id, order="asc", caller_token=caller_token)
        return answer_from_messages(rows)

    async def run_usage(self, thread_id: str, *, caller_token: str | None = None) -> RunUsage:
        """Usage summed over the thread's ``assistant_response_end``/``llm_response_end`` rows."""
        rows = await self.get_messages(thread_id, order="asc", caller_token=caller_token)
        return usage_from_messages(rows)

    async def run_output(
        self, thread_id: str, *, caller_token: str | None = None,
        requested_model: str | None = None,
    ) -> RunOutput:
        """Answer, the rule that produced it, and usage, with a single messages request."""
        rows = await self.get_messages(thread_id, order="asc", caller_token=caller_token)
        return output_from_messages(rows, requested_model=requested_model)
