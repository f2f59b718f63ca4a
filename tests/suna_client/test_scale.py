"""A thousand runs waited on at once, client and simulator in one process."""

from __future__ import annotations

import asyncio
from typing import Any

from suna_client import AgentStartRequest, SunaClient
from suna_sim import SunaSimulator

RUNS = 1000


async def test_thousand_concurrent_waits(h: Any) -> None:
    agents = {"agents": [{"agent_id": "slow", "answer": "done", "latency_ms": 500, "chunks": 5}]}
    async with SunaSimulator(
        agents=agents, jwt_secret=h.SECRET, max_parallel_runs=0
    ) as big, h.make_client(big.base_url) as suna:

        async def one(index: int, client: SunaClient) -> str:
            thread = await client.create_thread()
            await client.add_message(thread.thread_id, f"job {index}")
            run = await client.start_agent(thread.thread_id, AgentStartRequest(agent_id="slow"))
            return (await client.wait_for_run(run.agent_run_id, timeout_s=60)).status

        results = await asyncio.gather(*(one(i, suna) for i in range(RUNS)))
        stats = big.stats()
    assert results.count("completed") == RUNS
    assert stats.runs_started == RUNS and stats.duplicate_starts == 0
    assert stats.streams_total == RUNS  # one stream each, no reconnects, no polling
    assert stats.requests["get_run"] == RUNS
