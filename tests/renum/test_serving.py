"""`renum serve`'s guards: slow clients are cut off, connections are bounded."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import aiohttp
import uvicorn

from renum.app import create_app
from renum.serving import guarded_protocol
from renum.settings import Settings

SLOW_REQUEST = b"GET /healthz HTTP/1.1\r\nHost: renum\r\nX-Slow: "  # never finished


async def _serve(settings: Settings, header_timeout_s: float, max_connections: int
                 ) -> tuple[uvicorn.Server, asyncio.Task[None], int]:  # fmt: skip
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(create_app(settings), log_level="warning", lifespan="on",
                            http=guarded_protocol(header_timeout_s, max_connections))  # fmt: skip
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 (uvicorn has no event to await)
        await asyncio.sleep(0.01)
    return server, task, sock.getsockname()[1]


async def _closed(reader: asyncio.StreamReader, within_s: float) -> bool:
    """Whether the server closes the connection within ``within_s`` (what is left is read)."""
    try:
        await asyncio.wait_for(reader.read(), within_s)
        return True
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


async def test_slow_clients_are_cut_off_and_connections_bounded(
    settings: Settings, db: Any, redis: Any
) -> None:
    server, task, port = await _serve(settings, header_timeout_s=0.5, max_connections=20)
    try:
        slow = []
        for _ in range(30):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(SLOW_REQUEST)
            slow.append((reader, writer))
        # past the limit, the oldest slow ones made room: closed at once
        evicted = await asyncio.gather(*(_closed(r, 0.3) for r, _ in slow[:10]))
        assert all(evicted)
        async with aiohttp.ClientSession() as http, http.get(
            f"http://127.0.0.1:{port}/healthz"
        ) as resp:
            assert resp.status == 200  # a real client gets in while they are held
        started = time.monotonic()
        held = await asyncio.gather(*(_closed(r, 3.0) for r, _ in slow[10:]))
        assert all(held) and time.monotonic() - started < 2.0  # the 0.5 s header timeout
        # a kept-alive connection that starts another request slowly is cut off too
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: renum\r\n\r\n")
        assert b"200 OK" in await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        writer.write(SLOW_REQUEST)
        assert await _closed(reader, 3.0)
        for _, w in slow:
            w.close()
        writer.close()
    finally:
        server.should_exit = True
        await task


async def test_a_slow_body_is_not_cut_off_by_the_header_timeout(
    settings: Settings, db: Any, redis: Any
) -> None:
    """Headers done in time: the request is the app's, however long its answer takes."""
    server, task, port = await _serve(settings, header_timeout_s=0.3, max_connections=20)
    try:
        async with aiohttp.ClientSession() as http:
            await asyncio.sleep(0.5)  # an idle session is fine too
            async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                assert resp.status == 200
    finally:
        server.should_exit = True
        await task
