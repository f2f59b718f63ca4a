"""Server-sent events as Suna writes them: ``data: <json>`` lines, blank line.

Suna sends neither ``event:`` nor ``id:`` (so there is no ``Last-Event-ID``
resumption: a reconnect replays everything). Lines are split here rather
than with ``readline`` so that a long message cannot hit a line-size limit.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator

import aiohttp

from .errors import SunaProtocolError, translate
from .models import StreamEvent, parse_event

__all__ = ["iter_data", "iter_events"]


async def iter_data(
    resp: aiohttp.ClientResponse, *, route: str, request_id: str | None, secrets: tuple[str, ...]
) -> AsyncGenerator[str, None]:
    """The ``data`` payload of each event of ``resp``, until the server closes it."""
    buf = b""
    data: list[bytes] = []
    try:
        async for chunk in resp.content.iter_any():
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                if line.endswith(b"\r"):
                    line = line[:-1]
                if not line:
                    if data:
                        payload = b"\n".join(data)
                        data = []
                        yield payload.decode("utf-8")
                    continue
                if line.startswith(b":"):
                    continue
                name, _, value = line.partition(b":")
                if name == b"data":
                    data.append(value[1:] if value.startswith(b" ") else value)
    except UnicodeDecodeError:
        raise SunaProtocolError(
            "stream line is not UTF-8", method="GET", route=route, request_id=request_id
        ) from None
    except Exception as exc:
        raise translate(
            exc, method="GET", route=route, request_id=request_id, secrets=secrets
        ) from None


async def iter_events(
    resp: aiohttp.ClientResponse, *, route: str, request_id: str | None, secrets: tuple[str, ...]
) -> AsyncGenerator[tuple[str, StreamEvent], None]:
    """``(raw data, typed event)`` for each event of ``resp``."""
    async for raw in iter_data(resp, route=route, request_id=request_id, secrets=secrets):
        try:
            event = parse_event(json.loads(raw))
        except ValueError as exc:
            raise SunaProtocolError(
                f"malformed stream event ({type(exc).__name__})",
                method="GET",
                route=route,
                request_id=request_id,
            ) from None
        yield raw, event
