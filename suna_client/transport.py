"""One HTTP exchange with Suna: breaker, retries, timeouts, errors, the hook.

Retries (tenacity) only where they are safe: reads and stop on connection
errors, timeouts, 502/503/504 and 429 (``Retry-After`` honoured). A
non-idempotent call (create thread, add message, start) is retried only when
the request provably never left (``request_sent=False``: connection refused,
connect timeout); otherwise the error reaches the caller, who resolves a
doubtful start with ``list_thread_runs``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
from pydantic import ValidationError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from .auth import SunaAuth, key_headers
from .breaker import CircuitBreaker
from .config import RetryPolicy, Timeouts
from .errors import (
    SunaConnectionError,
    SunaError,
    SunaInvalidIdError,
    SunaProtocolError,
    SunaRateLimitedError,
    SunaServerError,
    SunaTimeoutError,
    check_uuid,
    scrub,
    status_error,
    translate,
)

__all__ = ["Call", "OnRequest", "Transport"]

T = TypeVar("T")
OnRequest = Callable[[str, int | None, float], None]
"""Hook called after every attempt: ``(route_template, status or None, latency_s)``."""

_log = logging.getLogger("suna_client")
_PLACEHOLDER = re.compile(r"\{[a-z]+\}")
_ID_KINDS = {"{tid}": "thread", "{rid}": "run", "{aid}": "agent"}


@dataclass(frozen=True, slots=True)
class Call:
    """One logical request; ``route`` is the template (``GET /api/agent-run/{rid}``)."""

    method: str
    route: str
    path: str
    idempotent: bool
    headers: Mapping[str, str] = field(repr=False)
    secrets: tuple[str, ...] = field(repr=False)
    request_id: str
    json_body: Any = None
    body: Callable[[], Any] | None = None
    params: Mapping[str, str] | None = None


class Transport:
    """Sends :class:`Call` s on a session, through the breaker, with retries."""

    def __init__(
        self,
        base_url: str,
        session: Callable[[], aiohttp.ClientSession],
        *,
        auth: SunaAuth | None,
        timeouts: Timeouts,
        retry: RetryPolicy,
        breaker: CircuitBreaker,
        on_request: OnRequest | None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = session
        self._auth = auth
        self._retry = retry
        self._breaker = breaker
        self._on_request = on_request
        # sock_connect, not connect: a wait for a free pooled connection is ours, not
        # Suna's, and must not count against Suna (a timeout, the breaker).
        self._timeout = aiohttp.ClientTimeout(
            total=timeouts.request_s, sock_connect=timeouts.connect_s
        )
        self._stream_timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=timeouts.connect_s, sock_read=timeouts.stream_idle_s
        )

    def build_call(
        self,
        method: str,
        template: str,
        *,
        idempotent: bool,
        ids: Sequence[str] = (),
        caller_token: str | None = None,
        extra_keys: Mapping[str, str] | None = None,
        json_body: Any = None,
        body: Callable[[], Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Call:
        """A :class:`Call` with auth (or the caller's bearer), key headers, a request id.

        Every id in ``ids`` must be a UUID (:class:`SunaInvalidIdError` before any
        request: Suna answers other ids with a 500 that looks like an outage).
        """
        route = f"{method} {template}"
        for name, value in zip(_PLACEHOLDER.findall(template), ids, strict=True):
            try:
                check_uuid(_ID_KINDS[name], value)
            except SunaInvalidIdError as exc:
                raise SunaInvalidIdError(exc.kind, exc.value, method=method, route=route) from None
        parts: Iterator[str] = (quote(i, safe="") for i in ids)
        path = _PLACEHOLDER.sub(lambda _: next(parts), template)
        request_id = uuid.uuid4().hex
        headers = {"Accept": "application/json", "X-Request-ID": request_id}
        secrets: list[str] = []
        if caller_token:
            headers["Authorization"] = f"Bearer {caller_token}"
            secrets.append(caller_token)
        elif self._auth is not None:
            headers.update(self._auth.headers())
            secrets.extend(self._auth.secrets())
        keys = key_headers(extra_keys)
        headers.update(keys)
        secrets.extend(keys.values())
        return Call(
            method=method, route=route, path=path, idempotent=idempotent,
            headers=headers, secrets=tuple(secrets), request_id=request_id,
            json_body=json_body, body=body, params=params,
        )

    async def call(self, call: Call, parse: Callable[[Any], T]) -> T:
        """The parsed JSON answer of ``call``, retried where safe.

        The first try goes straight to the wire; tenacity takes over only after it
        fails (building its retry state on every call cost about a fifth of the
        client's CPU per request).
        """
        try:
            return await self._attempt(call, parse)
        except SunaError as exc:
            if self._retry.max_attempts <= 1 or not self._retryable(exc, call):
                raise
            _log.info("retrying after attempt 1: %s", exc)
            await asyncio.sleep(self._pause(exc, 1))
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._retry.max_attempts - 1),
            wait=lambda state: self._pause(_outcome(state), state.attempt_number + 1),
            retry=retry_if_exception(lambda exc: self._retryable(exc, call)),
            before_sleep=self._log_retry,
            reraise=True,
        )
        return await retrying(self._attempt, call, parse)

    def _retryable(self, exc: BaseException, call: Call) -> bool:
        policy = self._retry
        if isinstance(exc, SunaConnectionError | SunaTimeoutError):
            return call.idempotent or not exc.request_sent
        if isinstance(exc, SunaRateLimitedError):
            if exc.retry_after is not None and exc.retry_after > policy.retry_after_max_s:
                return False
            return exc.status == 429 and (call.idempotent or policy.retry_rate_limited_starts)
        if isinstance(exc, SunaServerError):
            return call.idempotent and exc.status in policy.retry_statuses
        return False

    def _pause(self, exc: BaseException | None, attempt: int) -> float:
        """How long to wait after try ``attempt`` failed with ``exc``."""
        if isinstance(exc, SunaRateLimitedError) and exc.retry_after is not None:
            return min(exc.retry_after, self._retry.retry_after_max_s)
        return self.backoff_s(attempt)

    def backoff_s(self, attempt: int) -> float:
        """Exponential wait before try ``attempt + 1``, with jitter."""
        policy = self._retry
        base = min(policy.backoff_max_s, policy.backoff_initial_s * 2.0 ** max(0, attempt - 1))
        return base + random.uniform(0.0, policy.jitter_s)

    @staticmethod
    def _log_retry(state: RetryCallState) -> None:
        _log.info("retrying after attempt %d: %s", state.attempt_number + 1, _outcome(state))

    def _hook(self, call: Call, status: int | None, started: float) -> float:
        latency_s = time.perf_counter() - started
        if self._on_request is not None:
            try:
                self._on_request(call.route, status, latency_s)
            except Exception:  # a metrics hook must never break a call
                _log.exception("on_request hook failed")
        return latency_s

    async def _attempt(self, call: Call, parse: Callable[[Any], T]) -> T:
        probe = self._breaker.acquire(method=call.method, route=call.route)
        outcome: bool | None = None
        status: int | None = None
        request_id: str | None = call.request_id
        started = time.perf_counter()
        ctx = {"method": call.method, "route": call.route}
        try:
            try:
                async with self._session().request(
                    call.method,
                    self.base_url + call.path,
                    headers=call.headers,
                    json=call.json_body,
                    data=call.body() if call.body else None,
                    params=call.params,
                    timeout=self._timeout,
                ) as resp:
                    status = resp.status
                    request_id = resp.headers.get("X-Request-ID", request_id)
                    raw = await resp.read()
                    retry_after = resp.headers.get("Retry-After")
            except Exception as exc:
                raise translate(exc, request_id=request_id, secrets=call.secrets, **ctx) from None
            if status >= 400:
                err = status_error(
                    status, raw, retry_after=retry_after, request_id=request_id,
                    secrets=call.secrets, **ctx,
                )
                outcome = not isinstance(err, SunaServerError)
                raise err
            try:
                result = parse(json.loads(raw))
            except (ValueError, ValidationError, KeyError, TypeError) as exc:
                excerpt = scrub(raw[:200].decode("utf-8", "replace"), call.secrets)
                raise SunaProtocolError(
                    f"malformed {status} answer ({type(exc).__name__}): {excerpt!r}",
                    request_id=request_id, **ctx,
                ) from None
            outcome = True
            return result
        except SunaError:
            if outcome is None:
                outcome = False
            raise
        finally:
            self._breaker.release(probe, outcome, route=call.route)
            latency_s = self._hook(call, status, started)
            _log.debug(
                "%s -> %s in %.1f ms (request_id=%s)",
                call.route, status, latency_s * 1000, request_id,
            )

    @asynccontextmanager
    async def stream(self, call: Call) -> AsyncIterator[aiohttp.ClientResponse]:
        """The open response of a streaming GET (one attempt; the caller reconnects)."""
        probe = self._breaker.acquire(method=call.method, route=call.route)
        outcome: bool | None = None
        status: int | None = None
        started = time.perf_counter()
        ctx = {"method": call.method, "route": call.route, "request_id": call.request_id}
        try:
            try:
                resp = await self._session().request(
                    call.method, self.base_url + call.path, headers=call.headers,
                    params=call.params, timeout=self._stream_timeout,
                )
            except Exception as exc:
                raise translate(exc, secrets=call.secrets, **ctx) from None
            status = resp.status
            ctx["request_id"] = resp.headers.get("X-Request-ID", call.request_id)
            if status >= 400:
                try:
                    raw = await resp.read()
                except Exception as exc:
                    raise translate(exc, secrets=call.secrets, **ctx) from None
                finally:
                    resp.release()
                err = status_error(
                    status, raw, retry_after=resp.headers.get("Retry-After"),
                    secrets=call.secrets, **ctx,
                )
                outcome = not isinstance(err, SunaServerError)
                raise err
            outcome = True
        except SunaError:
            if outcome is None:
                outcome = False
            raise
        finally:
            self._breaker.release(probe, outcome, route=call.route)
            self._hook(call, status, started)
        try:
            yield resp
        finally:
            if resp.content.at_eof():
                resp.release()
            else:
                resp.close()


def _outcome(state: RetryCallState) -> BaseException | None:
    """The exception the last try of a tenacity loop raised."""
    return state.outcome.exception() if state.outcome else None
