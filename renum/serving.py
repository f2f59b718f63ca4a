"""The HTTP server's own guards: slow clients cannot hold its connections.

uvicorn bounds the idle time between two requests (keep-alive) but not the
time a client takes to send a request's headers, nor the number of open
connections: 20,000 clients each trickling a header line kept every file
descriptor of a `renum serve` busy, and `/healthz` with them. This protocol
(uvicorn's h11 one, with two additions) closes a connection whose request
headers are not complete ``header_timeout_s`` after its first byte (or after
it opened), and holds at most ``max_connections``: past it, the connection
that has waited longest for its headers is closed to make room, so slow
clients cannot keep a real one (or a health check) out.
``renum serve`` and ``renum dev`` serve with it; the deployment's nginx has
the same bounds in front (deploy/nginx.conf).
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["default_max_connections", "guarded_protocol", "serve"]

_log = logging.getLogger("renum.serving")
#: File descriptors kept free beside the connections (database pool, Redis, logs, Suna).
SPARE_FDS = 128
#: A refusal past the connection limit is logged at most this often.
REFUSAL_LOG_EVERY_S = 5.0


def default_max_connections() -> int:
    """Connections the process can hold: its file-descriptor limit minus SPARE_FDS."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 10_000
    return max(16, soft - SPARE_FDS)


class _GuardedH11(H11Protocol):
    """uvicorn's h11 protocol with a header-read timeout and a connection limit."""

    header_timeout_s = 10.0
    max_connections = 1_000
    _waiting: dict[_GuardedH11, None] = {}  # connections awaiting headers, oldest first
    _last_refusal = 0.0

    def connection_made(self, transport: Any) -> None:
        self._header_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            # Full: the connection that has waited longest for its headers makes room (a
            # slow client, most likely); with none waiting, every one is serving a
            # request, and the newcomer is closed.
            oldest = next(iter(self._waiting), None)
            now = time.monotonic()
            if now - _GuardedH11._last_refusal > REFUSAL_LOG_EVERY_S:
                _GuardedH11._last_refusal = now
                _log.warning("%d connections open, the limit (RENUM_MAX_CONNECTIONS): %s",
                             len(self.connections) - 1,
                             "closing the slowest to send its headers" if oldest
                             else "refusing new ones")  # fmt: skip
            if oldest is None:
                transport.close()
                return
            oldest._disarm()
            oldest.transport.close()
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._header_timer is None and self._awaiting_headers():
            self._arm()  # the first byte of another request on a kept-alive connection
        super().data_received(data)
        if not self._awaiting_headers():
            self._disarm()

    def handle_websocket_upgrade(self, event: Any) -> None:
        """The connection becomes a WebSocket: its headers are in, no timer may close it."""
        self._disarm()
        super().handle_websocket_upgrade(event)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _awaiting_headers(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _arm(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._too_slow)
        self._waiting[self] = None

    def _disarm(self) -> None:
        self._waiting.pop(self, None)
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _too_slow(self) -> None:
        self._header_timer = None
        self._waiting.pop(self, None)
        if self._awaiting_headers() and not self.transport.is_closing():
            self.transport.close()


def guarded_protocol(header_timeout_s: float, max_connections: int) -> type[asyncio.Protocol]:
    """The protocol class to give uvicorn (``http=``), with these bounds."""
    return type("RenumH11Protocol", (_GuardedH11,), {
        "header_timeout_s": header_timeout_s, "max_connections": max_connections,
        "_waiting": {}})  # fmt: skip


def serve(app: Any, *, host: str, port: int, log_level: str, header_timeout_s: float,
          max_connections: int | None) -> None:  # fmt: skip
    """Run ``app`` with uvicorn behind these guards until stopped."""
    limit = max_connections or default_max_connections()
    _log.info("serving on %s:%d, at most %d connections, %g s to send a request's headers",
              host, port, limit, header_timeout_s)  # fmt: skip
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False,
                http=guarded_protocol(header_timeout_s, limit))  # fmt: skip
