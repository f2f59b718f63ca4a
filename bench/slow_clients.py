"""Slow-client figure: does `/healthz` answer while slow clients hold connections?

Run: .venv/bin/python bench/slow_clients.py [--clients N]

A server process limited to 1,024 file descriptors serves a minimal ASGI app
(the guards are in the HTTP protocol, not in Renum's routes) twice: with
uvicorn's plain h11 protocol (what `renum serve` ran before renum/serving.py,
the baseline) and with Renum's guarded one (RENUM_HEADER_TIMEOUT_S 10,
connections up to the fd limit minus 128). Each time, N clients (2,000 by
default) open a connection and trickle a header that never ends; a probe then
asks `/healthz` every 100 ms for 15 s. Printed: the share of probes answered
and when the first one was. Printed, never asserted. The last line is
``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import socket
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SERVER = """
import resource, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))
sys.path.insert(0, {root!r})
import uvicorn
from renum.serving import default_max_connections, guarded_protocol

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({{"type": "http.response.start", "status": 200, "headers": []}})
    await send({{"type": "http.response.body", "body": b"ok"}})

http = guarded_protocol(10.0, default_max_connections()) if {guarded} else "h11"
uvicorn.run(app, host="127.0.0.1", port={port}, log_level="critical", http=http)
"""
SLOW = b"GET /healthz HTTP/1.1\r\nHost: renum\r\nX-Slow: "
PROBE_S, PROBE_EVERY_S = 15.0, 0.1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _probe(port: int) -> bool:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 1)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: renum\r\nConnection: close\r\n\r\n")
        line = await asyncio.wait_for(reader.readline(), 1)
        writer.close()
        return b"200" in line
    except (OSError, TimeoutError):
        return False


async def run(guarded: bool, clients: int) -> dict[str, Any]:
    port = _free_port()
    code = SERVER.format(root=str(ROOT), guarded=guarded, port=port)
    server = await asyncio.create_subprocess_exec(sys.executable, "-c", code)
    try:
        while not await _probe(port):  # noqa: ASYNC110 (a server coming up: nothing to await)
            await asyncio.sleep(0.05)
        held = []
        for _ in range(clients):
            try:
                _reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(SLOW)
                held.append(writer)
            except OSError:
                break
        start = time.monotonic()
        answered, first = 0, None
        probes = 0
        while time.monotonic() - start < PROBE_S:
            probes += 1
            if await _probe(port):
                answered += 1
                first = first if first is not None else time.monotonic() - start
            await asyncio.sleep(PROBE_EVERY_S)
        for writer in held:
            writer.close()
    finally:
        server.terminate()
        await server.wait()
    return {"server": "guarded" if guarded else "plain uvicorn (before)",
            "slow_clients": clients, "probes_answered": round(answered / probes, 3),
            "first_answer_s": None if first is None else round(first, 2)}


async def main(args: argparse.Namespace) -> list[dict[str, Any]]:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the clients' side
    return [await run(False, args.clients), await run(True, args.clients)]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=2000)
    results = asyncio.run(main(parser.parse_args()))
    print(f"/healthz probed every {PROBE_EVERY_S:g} s for {PROBE_S:g} s, server limited to "
          "1,024 file descriptors, behind slow clients:")
    for r in results:
        first = "never" if r["first_answer_s"] is None else f"first after {r['first_answer_s']} s"
        print(f"  {r['server']:>24}: {r['slow_clients']} slow clients, "
              f"{r['probes_answered'] * 100:.0f} % of probes answered, {first}")
    print("RESULT " + json.dumps(results))
