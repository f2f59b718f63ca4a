"""Fairness figures: another tenant's latency while one tenant floods the workers.

Run: .venv/bin/python bench/fairness.py [--quick]

Two floods, each against one worker (RENUM_WORKER_CONCURRENCY 50) and the API
served on loopback, the simulator in its own process (bench/engine.py's stack):

- **waiting**: the flooder launches 80 executions whose step requires a key
  the flooder never stores (they wait for it, RENUM_CREDENTIAL_WAIT_S an hour);
- **backlog**: the flooder launches 1,000 executions of one 500 ms step.

Then the other tenant launches one execution of one instant step; the figure
is its latency, launch to completed, against the same execution launched on
an idle stack in the same run (the baseline). Launches go through the API, so
the script measures any version of Renum; the flooder's rate and quota limits
are raised so that the whole flood is accepted. Printed, never asserted. The
last line is ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.engine import SECRET, bench_stack
from renum.app import create_app
from renum.auth import mint_token
from renum.engine.worker import Worker, WorkerConfig
from renum.settings import Settings
from renum.suna import build_suna_client

JWT = "bench-fairness-jwt-secret-0123456789-abcdefghij"
#: The victim gives up waiting after this long (the figure then reads ">").
GIVE_UP_S = 60.0


def _team(agent: str, requires: list[str] | None = None) -> dict[str, Any]:
    step: dict[str, Any] = {"agent_id": agent, "role": "works"}
    if requires:
        step["requires_keys"] = requires
    return {"type": "sequential", "agents": [step]}


class Api:
    """The API on a loopback port, and calls to it as any user."""

    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http, self.base = http, base

    def _auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint_token(JWT, user, ttl_s=3600)}"}

    async def team(self, user: str, workflow: dict[str, Any]) -> str:
        async with self.http.post(f"{self.base}/v1/teams", headers=self._auth(user),
                                  json={"name": "t", "workflow": workflow},
                                  params={"check_agents": "false"}) as resp:  # fmt: skip
            assert resp.status == 201, await resp.text()
            return str((await resp.json())["id"])

    async def launch(self, user: str, team: str) -> str:
        async with self.http.post(f"{self.base}/v1/teams/{team}/executions",
                                  headers=self._auth(user),
                                  json={"initial_prompt": "go"}) as resp:  # fmt: skip
            assert resp.status == 202, await resp.text()
            return str((await resp.json())["execution_id"])

    async def finish(self, user: str, execution_id: str) -> float | None:
        """Seconds until the execution is completed (None: not within GIVE_UP_S)."""
        start = time.perf_counter()
        while time.perf_counter() - start < GIVE_UP_S:
            async with self.http.get(f"{self.base}/v1/executions/{execution_id}",
                                     headers=self._auth(user)) as resp:  # fmt: skip
                if (await resp.json())["status"] == "completed":
                    return time.perf_counter() - start
            await asyncio.sleep(0.02)
        return None


async def victim_latency(api: Api, team: str) -> float | None:
    return await api.finish("victim", await api.launch("victim", team))


async def scenario(bench: Any, settings: Settings, flood: str, count: int) -> dict[str, Any]:
    await bench.reset()
    app = create_app(settings)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="error", lifespan="on"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 (uvicorn has no event to await)
        await asyncio.sleep(0.01)
    config = WorkerConfig(concurrency=50, read_block_ms=20, sweep_interval_s=1.0)
    try:
        async with aiohttp.ClientSession() as http, build_suna_client(settings) as suna:
            api = Api(http, f"http://127.0.0.1:{sock.getsockname()[1]}")
            worker = Worker(bench.resources, suna, config)
            running = asyncio.create_task(worker.run())
            quick = await api.team("victim", _team("zero"))
            alone = [await victim_latency(api, quick) for _ in range(3)]
            workflow = _team("zero", ["github"]) if flood == "waiting" else _team("a500")
            flooder = await api.team("flooder", workflow)
            for start in range(0, count, 50):  # 50 at a time: faster than the worker drains
                await asyncio.gather(*(api.launch("flooder", flooder)
                                       for _ in range(min(50, count - start))))  # fmt: skip
            await asyncio.sleep(0.5)  # let the worker take the flood in
            flooded = await victim_latency(api, quick)
            worker.stop()
            await running
    finally:
        server.should_exit = True
        await serving
    base = min(a for a in alone if a is not None)
    return {"flood": flood, "flood_executions": count, "alone_s": round(base, 3),
            "flooded_s": None if flooded is None else round(flooded, 3),
            "ratio": None if flooded is None else round(flooded / base, 1)}


async def main(args: argparse.Namespace) -> list[dict[str, Any]]:
    os.environ.update(RENUM_JWT_SECRET=JWT, RENUM_CREDENTIAL_WAIT_S="3600",
                      RENUM_LAUNCH_RATE="100000", RENUM_LAUNCH_BURST="100000",
                      RENUM_USER_QUEUED_MAX="100000")  # fmt: skip
    assert SECRET
    results = []
    async with bench_stack() as (bench, _sim):
        settings = Settings(RENUM_DB_POOL_MAX=20)
        results.append(await scenario(bench, settings, "waiting", 40 if args.quick else 80))
        results.append(await scenario(bench, settings, "backlog", 300 if args.quick else 1000))
    return results


def _print(results: list[dict[str, Any]]) -> None:
    print("another tenant's one-step execution, launch to completed (one worker, 50 slots):")
    for r in results:
        flooded = f">{GIVE_UP_S:g} s" if r["flooded_s"] is None else f"{r['flooded_s']:.3f} s"
        ratio = "" if r["ratio"] is None else f" = {r['ratio']}x"
        print(f"  {r['flood']:>8} flood of {r['flood_executions']:>5}: alone {r['alone_s']:.3f} s,"
              f" under the flood {flooded}{ratio}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller floods")
    out = asyncio.run(main(parser.parse_args()))
    _print(out)
    print("RESULT " + json.dumps(out))
