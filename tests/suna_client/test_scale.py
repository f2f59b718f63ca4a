"""A thousand runs waited on at once, client and simulator in one process."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from suna_client import StartRequest, SunaClient
from suna_sim import SunaSimulator

RUNS = 1000


@pytest.mark.flavours("v1")
async def test_thousand_concurrent_waits(h: Any) -> None:
    agents = {"agents": [{"agent_id": "slow", "answer": "done", "latency_ms": 500, "chunks": 5}]}
    options = h.sim_options(h.flavour, agents=agents, max_parallel_runs=0, run_row_delay_ms=0)
    async with SunaSimulator(**options) as big, h.make_client(big.base_url) as suna:

        async def one(index: int, client: SunaClient) -> str:
            run = await client.start(StartRequest(prompt=f"job {index}",
                                                  agent_id=big.agent_id("slow", h.ACCOUNT)))
            return (await client.wait_for_run(run.agent_run_id, timeout_s=60)).status

        results = await asyncio.gather(*(one(i, suna) for i in range(RUNS)))
        stats = big.stats()
    assert results.count("completed") == RUNS
    assert stats.runs_started == RUNS and stats.duplicate_starts == 0
    assert stats.streams_total == RUNS  # one stream each, no reconnects, no polling
    assert stats.requests["get_run"] == RUNS
