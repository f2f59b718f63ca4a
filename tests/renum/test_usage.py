"""The ledger: prices from genai-prices, unpriced models, stopped runs recorded once."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import genai_prices
import pytest

from renum.events import EventLog
from renum.usage import PRICE_DATA_VERSION, UsageLedger, price
from suna_client import RunUsage
from suna_sim import SunaSimulator
from tests.conftest import ApiClient
from tests.renum.conftest import Engine
from tests.renum.helpers import create_team, get_json, launch, read_sse
from tests.renum.money import delta, scrape


def test_cost_of_a_known_model_matches_an_independent_genai_prices_call() -> None:
    usage = RunUsage(input_tokens=1500, output_tokens=350, cached_tokens=512,
                     model="openai/gpt-5-mini")  # fmt: skip
    expected = genai_prices.calc_price(
        genai_prices.Usage(input_tokens=1500, output_tokens=350, cache_read_tokens=512),
        "gpt-5-mini", provider_id="openai",
    ).total_price  # fmt: skip
    priced = price(usage)
    assert (priced.provider, priced.model) == ("openai", "gpt-5-mini")
    assert isinstance(priced.cost_usd, Decimal)
    assert priced.cost_usd == Decimal(expected)
    # cached tokens are priced as cache reads: cheaper than the same tokens as plain input
    plain = price(RunUsage(input_tokens=1500, output_tokens=350, model="openai/gpt-5-mini"))
    assert plain.cost_usd is not None and priced.cost_usd < plain.cost_usd


def test_an_unknown_model_is_unpriced_not_free() -> None:
    priced = price(RunUsage(input_tokens=10, output_tokens=5, model="acme/mystery-1"))
    assert priced.cost_usd is None
    assert (priced.provider, priced.model) == ("acme", "mystery-1")


async def test_recording_a_run_twice_is_a_no_op(db: Any, redis: Any, api: ApiClient) -> None:
    ledger = UsageLedger(db, EventLog(db, redis))
    usage = RunUsage(input_tokens=100, output_tokens=20, model="openai/gpt-5-mini")
    before = await scrape(api)
    kwargs: dict[str, Any] = {
        "user_id": "alice",
        "team_id": None,
        "execution_id": None,
        "step_id": None,
        "attempt": None,
        "agent_id": "a",
        "usage": usage,
    }
    assert await ledger.record("run-1", **kwargs) is True
    assert await ledger.record("run-1", **kwargs) is False
    after = await scrape(api)
    row = await db.fetchrow("SELECT * FROM usage_log WHERE suna_run_id = 'run-1'")
    assert row["priced"] and row["price_version"] == PRICE_DATA_VERSION
    assert await db.fetchval("SELECT count(*) FROM usage_log") == 1
    assert delta(before, after, "renum_tokens_total", model="gpt-5-mini", kind="input") == 100


@pytest.mark.sim(agents={"agents": [
    {"agent_id": "stuck", "answer": "x", "llm_calls": 2, "chunks": 1, "latency_ms": 20,
     "model": "openai/gpt-5-mini", "input_tokens": 640, "output_tokens": 32}]})  # fmt: skip
async def test_a_cancelled_run_is_recorded_once(
    api: ApiClient, engine: Engine, sim: SunaSimulator, db: Any
) -> None:
    sim.set_faults({"agents": {"stuck": {"hang_rate": 1.0}}})  # first call done, then hangs
    workflow = {
        "type": "sequential",
        "agents": [{"agent_id": "stuck", "role": "stuck", "input": {"source": "initial_prompt"}}],
    }
    execution_id = (await launch(api, await create_team(api, workflow)))["execution_id"]
    async with engine.running():
        for _ in range(400):
            if sim.stats().usage.input_tokens:
                break
            await asyncio.sleep(0.025)
        async with api.http.post(api.url(f"/v1/executions/{execution_id}/cancel"),
                                 headers=api.auth()) as resp:  # fmt: skip
            assert resp.status == 202
        events = await read_sse(api, f"/v1/executions/{execution_id}/events")
    assert events[-1]["event"] == "execution_cancelled"
    stats = sim.stats()
    assert stats.runs_by_status.get("stopped") == 1
    rows = await db.fetch("SELECT * FROM usage_log")
    assert len(rows) == 1
    assert rows[0]["input_tokens"] == stats.usage.input_tokens == 640
    assert rows[0]["output_tokens"] == stats.usage.output_tokens
    execution = await get_json(api, f"/v1/executions/{execution_id}")
    assert execution["usage"]["agent_runs"] == 1
    assert [e["event"] for e in events].count("usage_recorded") == 1
