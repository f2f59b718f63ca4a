"""The typed async client of the Suna API, in each of its flavours (suna-api.md)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from types import TracebackType
from typing import Any, Literal, Self, TypeVar

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
from .errors import (
    SunaAgentsDisabledError,
    SunaError,
    SunaFlavourError,
    SunaForbiddenError,
    SunaNotFoundError,
    SunaTimeoutError,
    SunaUnknownAgentError,
    check_uuid,
    is_uuid,
)
from .flavours import ROUTES, Flavour, FlavourSetting, Routes, probe
from .models import (
    Agent,
    AgentPage,
    AgentRun,
    AgentStarted,
    AgentStartRequest,
    InitiateRequest,
    InitiateResult,
    MessageRow,
    RunOutput,
    RunResult,
    RunStatusEvent,
    RunUsage,
    Started,
    StartRequest,
    StopResult,
    StreamEvent,
    ThreadCreated,
)
from .output import answer_from_messages, output_from_messages, usage_from_messages
from .sse import iter_events
from .transport import OnRequest, Transport
from .waiting import LATE_PAUSE_MAX_S, LATE_PAUSE_S, OnEvent, RunWaiter

__all__ = ["SunaClient"]

Keys = Mapping[str, str] | None
T = TypeVar("T")


class SunaClient:
    """Async client of one Suna base URL over one ``aiohttp.ClientSession``.

    Use as ``async with SunaClient(url, auth=...) as suna``. An injected
    ``session`` is used as is and left open; without one the client creates
    (and closes) its own, with the connection limits of ``pool``. Every call
    takes ``extra_keys`` (service → plaintext, sent only as
    ``X-API-Key-<service>`` headers) and ``caller_token`` (a caller's bearer
    sent instead of the service ``auth``). ``breaker`` is a config (one
    breaker for this client's base URL) or a :class:`CircuitBreaker` shared by
    several clients of the same URL. ``flavour`` is the Suna API spoken
    (``api-2025``, ``agent-start``, ``v1``) or ``auto``: probed on first use,
    once per client.
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
        flavour: FlavourSetting = "auto",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.flavour_setting = flavour
        self._routes: Routes | None = None if flavour == "auto" else ROUTES[flavour]
        self._probing = asyncio.Lock()
        self._fresh: dict[str, float] = {}
        """Runs this client started, and when: ``v1`` may not have written their rows yet."""
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
        self._on_request = on_request
        self._parent: SunaClient | None = None
        """The client this one acts for another account of (see :meth:`acting_as`)."""
        self.transport = Transport(
            self.base_url, self._get_session, auth=auth, timeouts=timeouts, retry=retry,
            breaker=self.breaker, on_request=on_request,
        )

    def acting_as(self, auth: SunaAuth) -> SunaClient:
        """A client of the same deployment that calls as another account (``auth``: a
        user's account API key), sharing this one's connections, breaker and flavour.

        Closing it closes nothing; the connections are this client's.
        """
        root = self._parent or self
        view = SunaClient(
            root.base_url, session=root._get_session(), auth=auth, timeouts=root.timeouts,
            retry=root.retry_policy, breaker=root.breaker, pool=root._pool,
            on_request=root._on_request, flavour=root.flavour_setting,
        )  # fmt: skip
        view._parent = root
        return view

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

    async def routes(self) -> Routes:
        """The routes of the deployment's flavour (probed on first use if ``auto``: once per
        client, which speaks to one base URL)."""
        if self._routes is not None:
            return self._routes
        if self._parent is not None:  # one probe for every account's calls
            self._routes = await self._parent.routes()
            return self._routes
        async with self._probing:
            if self._routes is None:
                flavour, _ = await probe(
                    self._get_session(), self.base_url, timeout_s=self.timeouts.probe_s
                )
                self._routes = ROUTES[flavour]
        return self._routes

    async def flavour(self) -> Flavour:
        """The API flavour spoken (probing it if the setting is ``auto``)."""
        return (await self.routes()).flavour

    async def create_thread(
        self, name: str | None = None, *, extra_keys: Keys = None, caller_token: str | None = None
    ) -> ThreadCreated:
        """``POST P/threads``: a new thread (and project, and sandbox) of the caller's account."""
        form = {"name": name} if name else {}
        routes = await self.routes()
        call = self.transport.build_call(
            "POST", routes.create_thread, idempotent=False, caller_token=caller_token,
            extra_keys=extra_keys, body=lambda: aiohttp.FormData(form),
        )
        return await self.transport.call(call, ThreadCreated.model_validate)

    async def add_message(
        self, thread_id: str, content: str, *, extra_keys: Keys = None,
        caller_token: str | None = None,
    ) -> MessageRow:
        """``POST P/threads/{tid}/messages``: a user message; the stored row.

        Not before an ``agent-start``/``v1`` start with a prompt: that start writes
        the prompt itself.
        """
        routes = await self.routes()
        call = self.transport.build_call(
            "POST", routes.messages, idempotent=False, ids=(thread_id,),
            caller_token=caller_token, extra_keys=extra_keys,
            json_body={"type": "user", "content": content, "is_llm_message": True},
        )
        return await self.transport.call(call, MessageRow.model_validate)

    async def start_agent(
        self, thread_id: str, request: AgentStartRequest | None = None, *,
        extra_keys: Keys = None, caller_token: str | None = None,
    ) -> AgentStarted:
        """``POST /api/thread/{tid}/agent/start`` (``api-2025``): a new run on a thread whose
        prompt is already in it (never retried once sent). :meth:`start` works in every
        flavour."""
        routes = await self.routes()
        if routes.unified_start:
            raise SunaFlavourError(
                f"the {routes.flavour} API has no thread start route; use start()"
            )
        body = (request or AgentStartRequest()).model_dump(exclude_none=True)
        call = self.transport.build_call(
            "POST", routes.start, idempotent=False, ids=(thread_id,),
            caller_token=caller_token, extra_keys=extra_keys, json_body=body,
        )
        return await self.transport.call(call, AgentStarted.model_validate)

    async def start(
        self, request: StartRequest, *, extra_keys: Keys = None, caller_token: str | None = None
    ) -> Started:
        """Start a run, whatever the flavour: its run, thread and project ids.

        ``api-2025``: creates the thread unless ``thread_id`` is given, adds the
        prompt as a message, then starts (three calls). ``agent-start`` / ``v1``:
        one multipart call carrying the prompt; with ``optimistic`` the thread is
        created under ``thread_id``/``project_id`` (generated here if unset), so
        that a caller who recorded them first can ask about that thread later.
        Never retried once sent: a doubtful start is resolved by asking for the
        thread's runs (:meth:`list_thread_runs` with ``expect_run``).
        """
        routes = await self.routes()
        for kind in ("thread", "project", "agent"):
            value = getattr(request, f"{kind}_id")
            if value is not None:
                check_uuid(kind, value)
        if not routes.unified_start:
            return await self._start_2025(request, extra_keys=extra_keys,
                                          caller_token=caller_token)  # fmt: skip
        fields = request.model_dump(exclude_none=True, exclude={"optimistic"})
        if request.optimistic:
            fields["optimistic"] = True
            fields.setdefault("thread_id", str(uuid.uuid4()))
            fields.setdefault("project_id", str(uuid.uuid4()))

        def form() -> aiohttp.FormData:
            data = aiohttp.FormData()
            for key, value in fields.items():
                data.add_field(key, str(value).lower() if isinstance(value, bool) else str(value))
            return data

        call = self.transport.build_call(
            "POST", routes.start, idempotent=False, body=form, extra_keys=extra_keys,
            caller_token=caller_token,
        )
        started = await self.transport.call(call, Started.model_validate)
        self._remember(started.agent_run_id)
        return started

    def _remember(self, run_id: str) -> None:
        now = time.monotonic()
        if len(self._fresh) >= 1024:
            horizon = now - self.timeouts.late_run_s
            self._fresh = {rid: at for rid, at in self._fresh.items() if at > horizon}
        self._fresh[run_id] = now

    async def _late_tolerant(self, run_id: str, op: Callable[[], Awaitable[T]]) -> T:
        """``op``, asked again while it is a 404 for a run this client started less than
        ``Timeouts.late_run_s`` ago (``v1`` writes the run's row after the start)."""
        started = self._fresh.get(run_id)
        if started is None:
            return await op()
        return await _while_late(op, started + self.timeouts.late_run_s)

    async def _start_2025(
        self, request: StartRequest, *, extra_keys: Keys, caller_token: str | None
    ) -> Started:
        if request.optimistic or (request.project_id and not request.thread_id):
            raise SunaFlavourError(
                "the api-2025 API cannot create a thread under a chosen id or project; "
                "create the thread first (create_thread) and start on it"
            )
        thread_id, project_id = request.thread_id, request.project_id
        if thread_id is None:
            created = await self.create_thread(extra_keys=extra_keys, caller_token=caller_token)
            thread_id, project_id = created.thread_id, created.project_id
        if request.prompt:
            await self.add_message(thread_id, request.prompt, extra_keys=extra_keys,
                                   caller_token=caller_token)  # fmt: skip
        options = AgentStartRequest(
            agent_id=request.agent_id, model_name=request.model_name,
            enable_thinking=request.enable_thinking, reasoning_effort=request.reasoning_effort,
        )
        started = await self.start_agent(thread_id, options, extra_keys=extra_keys,
                                         caller_token=caller_token)
        self._remember(started.agent_run_id)
        return Started(thread_id=thread_id, agent_run_id=started.agent_run_id,
                       project_id=project_id, status=started.status)  # fmt: skip

    async def initiate(
        self, request: InitiateRequest, *, files: Sequence[tuple[str, bytes]] = (),
        extra_keys: Keys = None, caller_token: str | None = None,
    ) -> InitiateResult:
        """``POST /api/agent/initiate``: thread, message and run in one call.

        Saves round trips but loses exactly-once starts (no thread id is known
        before the run exists); use only when that is acceptable. ``api-2025`` only.
        """
        routes = await self.routes()
        if routes.unified_start:
            raise SunaFlavourError("agent/initiate exists only in the api-2025 API; use start()")
        fields = request.model_dump(exclude_none=True)

        def form() -> aiohttp.FormData:
            data = aiohttp.FormData()
            for key, value in fields.items():
                data.add_field(key, str(value).lower() if isinstance(value, bool) else str(value))
            for filename, content in files:
                data.add_field("files", content, filename=filename)
            return data

        call = self.transport.build_call(
            "POST", routes.prefix + "/agent/initiate", idempotent=False,
            caller_token=caller_token,
            extra_keys=extra_keys, body=form,
        )
        return await self.transport.call(call, InitiateResult.model_validate)

    async def get_run(
        self, run_id: str, *, extra_keys: Keys = None, caller_token: str | None = None
    ) -> AgentRun:
        """``GET P/agent-run/{rid}``: the run's status as Suna stored it."""
        routes = await self.routes()
        call = self.transport.build_call(
            "GET", routes.get_run, idempotent=True, ids=(run_id,),
            caller_token=caller_token, extra_keys=extra_keys,
        )
        return await self._late_tolerant(
            run_id, lambda: self.transport.call(call, AgentRun.model_validate)
        )

    async def stream_run(
        self, run_id: str, *, last_id: str | None = None, extra_keys: Keys = None,
        caller_token: str | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """The events of one stream connection, replay included, until Suna closes it.

        ``last_id`` (``v1``): only the events after that ``_event_id``. Raw and
        unconfirmed: prefer :meth:`wait_for_run` to learn how a run ended.
        """
        routes = await self.routes()
        call = self.transport.build_call(
            "GET", routes.stream, idempotent=True, ids=(run_id,),
            caller_token=caller_token, extra_keys=extra_keys,
            params={"last_id": last_id} if last_id else None,
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
        after ``timeout_s`` (default ``Timeouts.run_s``) in total. A run missing
        (404) during its first ``Timeouts.late_run_s`` is waited for: ``v1``
        writes the run's row after answering the start.
        """
        budget = self.timeouts.run_s if timeout_s is None else timeout_s
        routes = await self.routes()
        waiter = RunWaiter(self, routes, run_id, on_event=on_event, caller_token=caller_token)
        try:
            async with asyncio.timeout(budget):
                return await waiter.run()
        except TimeoutError:
            raise SunaTimeoutError(
                f"run {run_id} not over after {budget:g} s", request_sent=True,
                method="GET", route=f"GET {routes.stream}",
            ) from None

    async def stop_run(
        self, run_id: str, *, extra_keys: Keys = None, caller_token: str | None = None
    ) -> StopResult:
        """``POST P/agent-run/{rid}/stop`` (safe to repeat).

        In ``api-2025`` it marks even a finished run ``stopped``, and a stop that
        comes before Suna's worker picked the run up is lost: stop only runs seen
        running, and confirm the end with :meth:`wait_for_run`.
        """
        routes = await self.routes()
        call = self.transport.build_call(
            "POST", routes.stop, idempotent=True, ids=(run_id,),
            caller_token=caller_token, extra_keys=extra_keys,
        )
        return await self._late_tolerant(
            run_id, lambda: self.transport.call(call, StopResult.model_validate)
        )

    async def list_thread_runs(
        self, thread_id: str, *, expect_run: bool = False, extra_keys: Keys = None,
        caller_token: str | None = None,
    ) -> list[AgentRun]:
        """``GET P/thread/{tid}/agent-runs``: the thread's runs, newest first.

        ``expect_run``: a start may have reached Suna, so in ``v1`` (which writes
        the thread's and the run's rows after answering the start) an empty list or
        a 404 is asked again for ``Timeouts.late_run_s`` before it is believed.
        """
        routes = await self.routes()

        async def once() -> list[AgentRun]:
            call = self.transport.build_call(
                "GET", routes.thread_runs, idempotent=True, ids=(thread_id,),
                caller_token=caller_token, extra_keys=extra_keys,
            )
            return await self.transport.call(
                call, lambda data: [AgentRun.model_validate(r) for r in data["agent_runs"]]
            )

        if not expect_run or routes.flavour != "v1":
            return await once()
        late_until = time.monotonic() + self.timeouts.late_run_s
        return await _while_late(once, late_until, again=lambda runs: not runs)

    async def get_messages(
        self, thread_id: str, *, order: Literal["asc", "desc"] = "desc", extra_keys: Keys = None,
        caller_token: str | None = None,
    ) -> list[MessageRow]:
        """``GET P/threads/{tid}/messages`` (``optimized=false`` for later versions)."""
        routes = await self.routes()
        call = self.transport.build_call(
            "GET", routes.messages, idempotent=True, ids=(thread_id,),
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

    async def run_error_text(
        self, run_id: str, *, timeout_s: float = 5.0, caller_token: str | None = None
    ) -> str | None:
        """The last error message Suna stored for a finished run, if any.

        ``api-2025`` ends a run whose LLM call failed ``completed`` with no error,
        its error event stored after the completion, where a live stream never
        shows it: a replay of the run's responses does. Best effort: ``None`` when
        nothing is found or Suna does not answer within ``timeout_s``.
        """
        found: str | None = None
        try:
            async with asyncio.timeout(timeout_s):
                async for event in self.stream_run(run_id, caller_token=caller_token):
                    if isinstance(event, RunStatusEvent) and event.status == "error":
                        found = event.message or found
        except (TimeoutError, SunaError):
            pass
        return found

    async def list_agents(
        self, *, search: str | None = None, page: int = 1, limit: int = 100,
        caller_token: str | None = None,
    ) -> AgentPage:
        """``GET P/agents``: one page of the account's agents (``search``: name or
        description). :class:`SunaAgentsDisabledError` if custom agents are off."""
        routes = await self.routes()
        params = {"page": str(page), "limit": str(limit)}
        if search:
            params["search"] = search
        call = self.transport.build_call(
            "GET", routes.agents, idempotent=True, caller_token=caller_token, params=params
        )

        def parse(data: Any) -> AgentPage:
            info = data.get("pagination") or {}
            agents = tuple(Agent.model_validate(a) for a in data["agents"])
            return AgentPage(agents=agents, page=int(info.get("current_page", page)),
                             total=int(info.get("total_items", len(agents))),
                             has_next=bool(info.get("has_next", False)))  # fmt: skip

        try:
            return await self.transport.call(call, parse)
        except SunaForbiddenError as exc:
            raise SunaAgentsDisabledError(
                status=exc.status, detail=exc.detail, body_excerpt=exc.body_excerpt,
                error_code=exc.error_code, method=exc.method, route=exc.route,
                request_id=exc.request_id,
            ) from None

    async def get_agent(self, agent_id: str, *, caller_token: str | None = None) -> Agent:
        """``GET P/agents/{aid}``: one of the account's agents."""
        routes = await self.routes()
        call = self.transport.build_call(
            "GET", routes.agent, idempotent=True, ids=(agent_id,), caller_token=caller_token
        )
        return await self.transport.call(call, Agent.model_validate)

    async def find_agents(self, name: str, *, caller_token: str | None = None) -> list[Agent]:
        """The account's agents named exactly ``name`` (every page of a search for it)."""
        found: list[Agent] = []
        page = 1
        while True:
            batch = await self.list_agents(search=name, page=page, caller_token=caller_token)
            found.extend(a for a in batch.agents if a.name == name)
            if not batch.has_next:
                return found
            page += 1

    async def resolve_agent(self, agent: str, *, caller_token: str | None = None) -> str:
        """The UUID of ``agent``: itself if it is a UUID, else the one agent of the account
        with that exact name (:class:`SunaUnknownAgentError` for none or several)."""
        if is_uuid(agent):
            return agent
        matches = await self.find_agents(agent, caller_token=caller_token)
        if len(matches) != 1:
            route = f"GET {(await self.routes()).agents}"
            raise SunaUnknownAgentError(agent, len(matches), method="GET", route=route)
        return matches[0].agent_id


async def _while_late(
    op: Callable[[], Awaitable[T]], late_until: float,
    again: Callable[[T], bool] = lambda _: False,
) -> T:  # fmt: skip
    """``op``, asked again (from LATE_PAUSE_S, doubling) while it is a 404, or an answer
    ``again`` rejects, until ``late_until``: how long a ``v1`` row may lag its start."""
    delay = LATE_PAUSE_S
    while True:
        try:
            result = await op()
        except SunaNotFoundError:
            if time.monotonic() + delay >= late_until:
                raise
        else:
            if not again(result) or time.monotonic() + delay >= late_until:
                return result
        await asyncio.sleep(delay)
        delay = min(delay * 2, LATE_PAUSE_MAX_S)
