"""How a run's end is read: a run Renum stopped is recorded as it really ended, with what
Suna really billed, once; a run already over is never stopped; usage rows Suna writes
after the final status are billed once they are there."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest

from suna_sim import SunaSimulator
from tests.conftest import ApiClient
from tests.renum.conftest import Engine
from tests.renum.helpers import create_team, get_json, launch

AGENTS = {"agents": [
    {"agent_id": "researcher", "answer": "found it", "latency_ms": 200, "chunks": 2,
     "model": "openai/gpt-4o-mini", "input_tokens": 700, "output_tokens": 50},
]}  # fmt: skip
ONE_STEP = {"type": "sequential", "agents": [
    {"agent_id": "researcher", "role": "researcher", "input": {"source": "initial_prompt"},
     "model": "openai/gpt-4o-mini"}]}  # fmt: skip


async def _until(probe: Any, timeout_s: float = 20.0) -> Any:
    """The first true value of ``probe()`` (awaited if it is awaitable)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        value = probe()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.05)


# A stop sent before Suna's worker picked the run up is lost (api-2025): the run reads
# `stopped`, then completes and bills in full. It is picked up well after the first
# read of its usage (0.5 s), so that read sees `stopped` with nothing billed yet.
@pytest.mark.sim(flavour="api-2025", agents=AGENTS, pickup_delay_ms=2500)
async def test_a_lost_stop_is_recorded_as_the_run_really_ended(
    api: ApiClient, engine: Engine, sim: SunaSimulator, db: Any
) -> None:
    execution_id = (await launch(api, await create_team(api, ONE_STEP)))["execution_id"]
    async with engine.running(usage_retry_s=0.5):
        await _until(lambda: sim.stats().runs_started == 1)
        async with api.http.post(api.url(f"/v1/executions/{execution_id}/cancel"),
                                 headers=api.auth()) as resp:  # fmt: skip
            assert resp.status == 202
        row = await _until(lambda: db.fetchrow("SELECT * FROM usage_log"))
    (run_id, run), = sim.core.runs.items()
    assert run.status == "completed" and run.stop_lost  # it ran after all
    assert (row["suna_run_id"], row["input_tokens"]) == (run_id, sim.stats().usage.input_tokens)
    assert row["input_tokens"] > 0 and await db.fetchval("SELECT count(*) FROM usage_log") == 1
    execution = await get_json(api, f"/v1/executions/{execution_id}")
    step = execution["steps"][0]
    assert execution["status"] == "cancelled" and step["status"] == "cancelled"
    assert step["error"]["suna_run_ended"] == "completed"
    assert execution["usage"]["input_tokens"] == row["input_tokens"]


@pytest.mark.sim(flavour="api-2025", agents=AGENTS, pickup_delay_ms=600)
async def test_a_timed_out_run_whose_stop_is_lost_bills_in_full(
    api: ApiClient, engine: Engine, sim: SunaSimulator, db: Any
) -> None:
    workflow = {"type": "sequential", "agents": [
        {**ONE_STEP["agents"][0], "timeout_s": 0.3}]}  # fmt: skip
    execution_id = (await launch(api, await create_team(api, workflow)))["execution_id"]
    async with engine.running(usage_retry_s=2.0):
        row = await _until(lambda: db.fetchrow("SELECT * FROM usage_log"))
    execution = await get_json(api, f"/v1/executions/{execution_id}")
    assert execution["steps"][0]["error"]["code"] == "step_timeout"
    assert row["input_tokens"] == sim.stats().usage.input_tokens > 0


@pytest.mark.sim(flavour="v1", agents={"agents": [{**AGENTS["agents"][0], "latency_ms": 5000}]})
async def test_a_stop_that_lasts_is_recorded_at_once(
    api: ApiClient, engine: Engine, sim: SunaSimulator, db: Any
) -> None:
    execution_id = (await launch(api, await create_team(api, ONE_STEP)))["execution_id"]
    async with engine.running():  # usage read again only after 30 s: not within this test
        await _until(lambda: sim.stats().running == 1)
        async with api.http.post(api.url(f"/v1/executions/{execution_id}/cancel"),
                                 headers=api.auth()) as resp:  # fmt: skip
            assert resp.status == 202
        await _until(lambda: db.fetchrow("SELECT 1 FROM usage_log"), timeout_s=10)
    execution = await get_json(api, f"/v1/executions/{execution_id}")
    assert execution["status"] == "cancelled"
    (run,) = sim.core.runs.values()
    assert run.status == "stopped"


@pytest.mark.sim(flavour="v1", agents=AGENTS, usage_lag_ms=1500)
async def test_usage_rows_written_after_the_final_status_are_billed_once_they_are(
    api: ApiClient, engine: Engine, sim: SunaSimulator, db: Any
) -> None:
    execution_id = (await launch(api, await create_team(api, ONE_STEP)))["execution_id"]
    async with engine.running(usage_retry_s=0.5):
        await _until(lambda: db.fetchval(
            "SELECT status = 'completed' FROM executions WHERE id = $1", execution_id))
        assert await db.fetchval("SELECT count(*) FROM usage_log") == 0  # not a zero row
        row = await _until(lambda: db.fetchrow("SELECT * FROM usage_log"))
    assert row["input_tokens"] == sim.stats().usage.input_tokens > 0
    assert row["llm_calls"] == sim.stats().usage.llm_calls
    execution = await get_json(api, f"/v1/executions/{execution_id}")
    assert execution["steps"][0]["answer"] == "found it"
