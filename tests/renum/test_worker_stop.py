"""A worker driving as many executions as its concurrency allows still stops when asked."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.conftest import ApiClient
from tests.renum.conftest import Engine
from tests.renum.helpers import create_team, launch

SLOW = {"agents": [{"agent_id": "slow", "answer": "late", "latency_ms": 60_000}]}
ONE_STEP = {"type": "sequential", "agents": [
    {"agent_id": "slow", "role": "slow", "input": {"source": "initial_prompt"}}]}  # fmt: skip


@pytest.mark.sim(agents=SLOW)
async def test_a_full_worker_stops_promptly(api: ApiClient, engine: Engine, db: Any) -> None:
    team_id = await create_team(api, ONE_STEP)
    await launch(api, team_id, "wait")
    async with engine.running(concurrency=1) as running:
        for _ in range(200):  # the one slot is taken once the run is in Suna
            if await db.fetchval("SELECT count(*) FROM step_runs WHERE suna_run_id IS NOT NULL"):
                break
            await asyncio.sleep(0.05)
        started = time.monotonic()
        running.worker.stop()
        await asyncio.wait_for(asyncio.shield(running.done), 10)
    assert time.monotonic() - started < 10
    assert await db.fetchval("SELECT lease_owner FROM executions") is None  # released
