"""HTTP plumbing shared by the simulator's routes: FastAPI-shaped errors,
compact JSON bodies, request ids, request counts and route faults."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .faults import RouteFault

if TYPE_CHECKING:
    from .core import SimCore

__all__ = [
    "CORE", "STREAM_FAULT", "ApiError", "fault_middleware", "internal_error", "json_body", "reply",
]

CORE: web.AppKey[SimCore] = web.AppKey("suna_sim_core")
STREAM_FAULT: ContextVar[RouteFault | None] = ContextVar("suna_sim_stream_fault", default=None)
"""A ``malformed`` fault for the stream handler to play (set per request)."""
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_PROXY_PAGE = (
    "<html><head><title>{0}</title></head><body><center><h1>{0}</h1></center></body></html>"
)
_REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
            504: "Gateway Timeout"}


class ApiError(Exception):
    """An error answer shaped like FastAPI's ``HTTPException``: ``{"detail": …}``."""

    def __init__(
        self, status: int, detail: Any, headers: dict[str, str] | None = None, *,
        plain: bool = False,
    ) -> None:  # fmt: skip
        super().__init__(status, detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}
        self.plain = plain
        """Answer ``detail`` as a text/plain body (an unhandled exception in Suna)."""

    def response(self) -> web.Response:
        """The answer Suna sends for this error."""
        if self.plain:
            return web.Response(status=self.status, text=str(self.detail), headers=self.headers)
        return reply({"detail": self.detail}, self.status, self.headers)


def internal_error() -> ApiError:
    """Starlette's answer to an unhandled exception: 500, ``Internal Server Error``, plain text.

    What Suna answers a non-UUID id (PostgreSQL's 22P02) or an unknown account.
    """
    return ApiError(500, "Internal Server Error", plain=True)


def _compact(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def reply(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON answer written like Starlette's ``JSONResponse`` (compact)."""
    return web.json_response(data, status=status, headers=headers, dumps=_compact)


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object, or a FastAPI-like 422."""
    try:
        data = await request.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ApiError(422, [{"type": "json_invalid", "loc": ["body"], "msg": "JSON decode error"}])
    return data



def _fault_answer(core: SimCore, fault: RouteFault) -> web.Response:
    if fault.kind == "rate_limit":
        limit = core.config.max_parallel_runs or 3
        detail = {
            "message": f"Maximum of {limit} parallel agent runs allowed within 24 hours. "
            f"You currently have {limit} running.",
            "running_thread_ids": [],
            "running_count": limit,
            "limit": limit,
        }
        headers = {"Retry-After": f"{fault.retry_after_s:g}"} if fault.retry_after_s else None
        return reply({"detail": detail}, 429, headers)
    if fault.kind == "malformed":
        return web.Response(status=200, text='{"detail": "trunc', content_type="application/json")
    if fault.status == 500 or fault.status < 500:
        return reply({"detail": "Simulated failure"}, fault.status)
    reason = _REASONS.get(fault.status, "Server Error")
    page = _PROXY_PAGE.format(f"{fault.status} {reason}")
    return web.Response(status=fault.status, text=page, content_type="text/html")


async def _apply(core: SimCore, route: str, *, after: bool) -> RouteFault | None:
    """Sleep for latency faults; the other fault that hit, if any (the caller answers it)."""
    hits = core.faults.pick(route, after=after)
    for fault in hits:
        if fault.kind == "latency":
            await asyncio.sleep(fault.latency_ms / 1000.0)
    return next((f for f in hits if f.kind != "latency"), None)


def _drop(request: web.Request) -> web.Response:
    if request.transport is not None:
        request.transport.abort()
    return web.Response(status=500)


@web.middleware
async def fault_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request id, request counts, FastAPI-shaped errors and route faults."""
    core = request.app[CORE]
    request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex
    route = request.match_info.route.name or ""
    api = route in core.route_names
    if api:
        core.count_request(route)
    response: web.StreamResponse
    try:
        fault = await _apply(core, route, after=False) if api else None
        if fault is not None and fault.kind == "drop":
            return _drop(request)
        if fault is not None and not (route == "stream" and fault.kind == "malformed"):
            response = _fault_answer(core, fault)
        else:
            STREAM_FAULT.set(fault)
            response = await handler(request)
            late = await _apply(core, route, after=True) if api and route != "stream" else None
            if late is not None and late.kind == "drop":
                return _drop(request)
            if late is not None:
                response = _fault_answer(core, late)
    except ApiError as exc:
        response = exc.response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = reply({"detail": exc.reason}, exc.status)
    if not response.prepared:
        response.headers["X-Request-ID"] = request_id
    return response
