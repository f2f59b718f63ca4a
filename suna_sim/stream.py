"""``GET /api/agent-run/{rid}/stream``, as Suna serves it.

``data: <json.dumps(...)>`` and a blank line per event, no ``event:`` or
``id:``. Every connection first replays the run's whole response list. If the
run was not ``running`` when the stream was opened, it then sends
``{"type": "status", "status": "completed"}`` and closes, whatever the real
status. Otherwise it follows: it closes after a ``completed``/``failed``/
``stopped`` event, or relays a control signal (``STOP``, ``END_STREAM``,
``ERROR``) upper case and closes. Waiting is on the run's event, no polling.
"""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from .auth import account_of
from .http import CORE, STREAM_FAULT
from .state import SimRun

__all__ = ["stream_run"]

_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache, no-transform",
    "Connection": "keep-alive",
    "X-Accel-Buffering": "no",
    "Access-Control-Allow-Origin": "*",
}
_PING = json.dumps({"type": "ping"})


class _Cut(Exception):
    """The connection was cut on purpose (fault) or lost."""


class _Writer:
    """Writes events, cutting the connection after ``limit`` of them if set."""

    def __init__(self, request: web.Request, resp: web.StreamResponse, run: SimRun) -> None:
        self.request = request
        self.resp = resp
        self.run = run
        self.sent = 0
        faults = run.faults
        cuts_left = faults.stream_cut_times is None or run.stream_cuts < faults.stream_cut_times
        self.limit = faults.stream_cut_after if cuts_left else None

    async def send(self, lines: list[str]) -> None:
        if self.limit is not None and self.sent + len(lines) >= self.limit:
            lines = lines[: self.limit - self.sent]
            await self._write(lines)
            self.run.stream_cuts += 1
            if self.request.transport is not None:
                self.request.transport.abort()
            raise _Cut
        await self._write(lines)

    async def _write(self, lines: list[str]) -> None:
        if not lines:
            return
        self.sent += len(lines)
        try:
            await self.resp.write("".join(f"data: {line}\n\n" for line in lines).encode())
        except (ConnectionError, RuntimeError):
            raise _Cut from None


async def _follow(writer: _Writer, run: SimRun, ping_s: float | None, running: bool) -> None:
    replay = [line for line, _ in run.responses]
    await writer.send(replay)
    index = len(replay)
    if not running:
        await writer.send([json.dumps({"type": "status", "status": "completed"})])
        return
    while True:
        changed = run.changed
        fresh = run.responses[index:]
        if fresh:
            end = next((i for i, (_, final) in enumerate(fresh) if final), None)
            batch = fresh if end is None else fresh[: end + 1]
            await writer.send([line for line, _ in batch])
            index += len(batch)
            if end is not None:
                return
            continue
        if run.control is not None:
            await writer.send([json.dumps({"type": "status", "status": run.control})])
            return
        if ping_s is None:
            await changed.wait()
            continue
        try:
            await asyncio.wait_for(changed.wait(), ping_s)
        except TimeoutError:
            await writer.send([_PING])


async def stream_run(request: web.Request) -> web.StreamResponse:
    """Stream a run's responses (auth by header or ``?token=``)."""
    core = request.app[CORE]
    account = account_of(request, core.config, query_token=True)
    run = core.run_for(account, request.match_info["rid"])
    running = run.status == "running"
    headers = dict(_HEADERS)
    headers["X-Request-ID"] = request.headers.get("X-Request-ID", "")
    resp = web.StreamResponse(headers=headers)
    await resp.prepare(request)
    core.streams_open += 1
    core.streams_total += 1
    writer = _Writer(request, resp, run)
    try:
        fault = STREAM_FAULT.get()
        if fault is not None and fault.kind == "malformed":
            await writer.send(['{"type": "status", "status": "runn'])
        await _follow(writer, run, core.config.ping_interval_s, running)
        await resp.write_eof()
    except _Cut:
        pass
    finally:
        core.streams_open -= 1
    return resp
