"""``GET P/agent-run/{rid}/stream``, as Suna serves it.

``data: <json.dumps(...)>`` and a blank line per event, no ``event:`` or
``id:``. ``api-2025`` and ``agent-start``: every connection first replays the
run's whole response list. If the run was not ``running`` when the stream was
opened, it then sends ``{"type": "status", "status": "completed"}`` and
closes, whatever the real status. Otherwise it follows: it closes after a
``completed``/``failed``/``stopped`` event, or relays a control signal
(``STOP``, ``END_STREAM``, ``ERROR``) upper case and closes.

``v1``: a Redis Stream; each event carries its ``_event_id``; the catch-up
holds only the last ``stream_maxlen`` events, and ``?last_id=`` replaces it
with the events after that id; ``error`` closes too; pings every 5 s, and a
run silent for 4 pings is failed ("Worker timeout"). Waiting is on the run's
event, no polling.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

from aiohttp import web

from .auth import account_of
from .http import CORE, STREAM_FAULT
from .state import SimRun

if TYPE_CHECKING:
    from .core import SimCore

__all__ = ["stream_run"]

_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache, no-transform",
    "Connection": "keep-alive",
    "X-Accel-Buffering": "no",
    "Access-Control-Allow-Origin": "*",
}
_PING = json.dumps({"type": "ping"})
_COMPLETED = json.dumps({"type": "status", "status": "completed"})


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


async def _send_new(writer: _Writer, run: SimRun, index: int) -> tuple[int, bool]:
    """Send the responses from ``index`` up to the first final one: (next index, ended)."""
    fresh = run.responses[index:]
    end = next((i for i, entry in enumerate(fresh) if entry.final), None)
    batch = fresh if end is None else fresh[: end + 1]
    await writer.send([entry.line for entry in batch])
    return index + len(batch), end is not None


async def _follow_list(writer: _Writer, run: SimRun, ping_s: float, running: bool) -> None:
    """``api-2025`` / ``agent-start``: replay the whole list, then follow pub/sub."""
    replay = [entry.line for entry in run.responses]
    await writer.send(replay)
    index = len(replay)
    if not running:
        await writer.send([_COMPLETED])
        return
    while True:
        changed = run.changed
        if index < len(run.responses):
            index, ended = await _send_new(writer, run, index)
            if ended:
                return
            continue
        if run.control is not None:
            await writer.send([json.dumps({"type": "status", "status": run.control})])
            return
        if not ping_s:
            await changed.wait()
            continue
        try:
            await asyncio.wait_for(changed.wait(), ping_s)
        except TimeoutError:
            await writer.send([_PING])


def _after(run: SimRun, last_id: str) -> int:
    """Index of the first entry after ``last_id`` (a Redis Stream id ``<ms>-<seq>``)."""
    def key(event_id: str) -> tuple[int, int]:
        ms, _, seq = event_id.partition("-")
        return int(ms), int(seq or 0)

    try:
        floor = key(last_id)
    except ValueError:
        return 0
    return next((i for i, e in enumerate(run.responses) if key(e.event_id) > floor),
                len(run.responses))  # fmt: skip


async def _follow_stream(
    core: SimCore, writer: _Writer, run: SimRun, last_id: str | None, running: bool
) -> None:
    """``v1``: a catch-up of the trimmed stream (none with ``?last_id=``), then XREAD.

    Closes after ``completed``/``failed``/``stopped``/``error``; pings when idle,
    and after ``worker_timeout_pings`` pings without data fails a run still running.
    """
    behaviour = core.behaviour
    if last_id is not None:
        index = _after(run, last_id)
    else:
        entries = run.responses
        index = len(entries)
        maxlen = behaviour.stream_maxlen
        catch_up = entries if maxlen is None else entries[-maxlen:]
        end = next((i for i, e in enumerate(catch_up) if e.final), None)
        await writer.send([e.line for e in (catch_up if end is None else catch_up[: end + 1])])
        if end is not None:
            return
        if not running:
            await writer.send([_COMPLETED])
            return
    idle_pings = 0
    while True:
        changed = run.changed
        if index < len(run.responses):
            idle_pings = 0
            index, ended = await _send_new(writer, run, index)
            if ended:
                return
            continue
        try:  # a final status written without its event leaves the stream pinging
            await asyncio.wait_for(changed.wait(), behaviour.ping_interval_s or None)
        except TimeoutError:
            await writer.send([_PING])
            idle_pings += 1
            limit = behaviour.worker_timeout_pings
            if limit and idle_pings >= limit and run.status == "running":
                if run.task is not None:
                    run.task.cancel()
                run.push({"type": "status", "status": "failed", "message": "Worker timeout"})
                core.finish(run, "failed", error="Worker timeout", control="ERROR")


async def stream_run(request: web.Request) -> web.StreamResponse:
    """Stream a run's responses (auth by header or ``?token=``)."""
    core = request.app[CORE]
    account = account_of(
        request, core.config, verify=core.behaviour.verify_signatures, query_token=True
    )
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
        if core.behaviour.redis_stream:
            last_id = request.query.get("last_id")
            await _follow_stream(core, writer, run, last_id, running)
        else:
            await _follow_list(writer, run, core.behaviour.ping_interval_s, running)
        await resp.write_eof()
    except _Cut:
        pass
    finally:
        core.streams_open -= 1
    return resp
