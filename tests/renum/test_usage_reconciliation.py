"""Four totals agree: the simulator's, the ledger's, Prometheus's and the report's.

One execution has a failing agent retried (its failed runs cost tokens), a
timed-out step retried, an unpriced model and a plain one; another is taken
over by a second worker mid-step. Every Suna run is recorded exactly once.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from suna_sim import SunaSimulator
from tests.conftest import ApiClient
from tests.renum.conftest import Engine
from tests.renum.helpers import create_team, get_json, launch
from tests.renum.money import delta, independent_cost, scrape

AGENTS = {"agents": [
    {"agent_id": "flaky", "answer": "never", "llm_calls": 2, "chunks": 2, "latency_ms": 40,
     "model": "anthropic/claude-sonnet-4", "input_tokens": 1800, "output_tokens": 420,
     "cached_tokens": 1200, "cache_creation_tokens": 300, "faults": {"fail_rate": 1.0}},
    {"agent_id": "dawdler", "answer": "late", "llm_calls": 2, "chunks": 1, "latency_ms": 1200,
     "model": "openai/gpt-5-mini", "input_tokens": 700, "output_tokens": 90},
    {"agent_id": "analyst", "answer": "Analysis: {prompt}", "latency_ms": 20,
     "model": "openai/gpt-5-mini", "input_tokens": 1500, "output_tokens": 350,
     "cached_tokens": 512, "reasoning_tokens": 128},
    {"agent_id": "mystery", "answer": "?", "latency_ms": 10, "model": "acme/mystery-1",
     "input_tokens": 333, "output_tokens": 44},
    {"agent_id": "slow", "answer": "slowly: {prompt}", "latency_ms": 1500, "llm_calls": 2,
     "model": "anthropic/claude-sonnet-4", "input_tokens": 1000, "output_tokens": 200},
]}  # fmt: skip

MIXED = {"type": "parallel", "agents": [
    {"agent_id": "flaky", "role": "flaky", "input": {"source": "initial_prompt"},
     "on_failure": "continue", "retry": {"max_attempts": 2, "backoff_s": 0.05}},
    {"agent_id": "dawdler", "role": "dawdler", "input": {"source": "initial_prompt"},
     "on_failure": "continue", "timeout_s": 0.9, "retry": {"max_attempts": 2, "backoff_s": 0.05}},
    {"agent_id": "analyst", "role": "analyst", "input": {"source": "initial_prompt"}},
    {"agent_id": "mystery", "role": "mystery", "input": {"source": "initial_prompt"}},
]}  # fmt: skip
SLOW = {"type": "sequential", "agents": [
    {"agent_id": "slow", "role": "slow", "input": {"source": "initial_prompt"}}]}  # fmt: skip

KINDS = {"input": "input_tokens", "output": "output_tokens", "cached": "cached_tokens",
         "cache_write": "cache_write_tokens", "reasoning": "reasoning_tokens"}  # fmt: skip


async def _taken_over(api: ApiClient, engine: Engine, db: Any) -> str:
    """Launch SLOW, let one worker start its run, stop that worker, let another finish."""
    execution_id = (await launch(api, await create_team(api, SLOW, name="slow")))["execution_id"]
    async with engine.running() as first:
        for _ in range(400):
            if await db.fetchval("SELECT count(*) FROM step_runs WHERE execution_id = $1 "
                                 "AND suna_run_id IS NOT NULL", execution_id):  # fmt: skip
                break
            await asyncio.sleep(0.025)
        first_worker = first.worker.worker_id
    assert await db.fetchval("SELECT count(*) FROM usage_log") == 0  # nothing finished yet
    await engine.drain()
    row = await db.fetchrow("SELECT attempt, worker_id FROM step_runs WHERE execution_id = $1",
                            execution_id)  # fmt: skip
    assert row["attempt"] == 1 and row["worker_id"] != first_worker  # adopted, not restarted
    return str(execution_id)


@pytest.mark.sim(agents=AGENTS)
async def test_simulator_ledger_prometheus_and_report_agree(
    api: ApiClient, engine: Engine, sim: SunaSimulator, db: Any
) -> None:
    before = await scrape(api)
    taken_over = await _taken_over(api, engine, db)
    mixed = (await launch(api, await create_team(api, MIXED, name="mixed")))["execution_id"]
    await engine.drain()
    after = await scrape(api)

    assert (await get_json(api, f"/v1/executions/{taken_over}"))["status"] == "completed"
    execution = await get_json(api, f"/v1/executions/{mixed}")
    steps = {s["step_id"]: s for s in execution["steps"]}
    assert steps["flaky"]["status"] == "failed" and steps["flaky"]["attempt"] == 2
    assert steps["dawdler"]["status"] == "failed" and steps["dawdler"]["attempt"] == 2
    assert steps["dawdler"]["error"]["code"] == "step_timeout"
    assert steps["analyst"]["status"] == "completed"

    stats = sim.stats()
    assert stats.duplicate_starts == 0
    assert stats.runs_started == 1 + 2 + 2 + 1 + 1  # slow, flaky x2, dawdler x2, analyst, mystery
    ledger = await db.fetchrow(
        """SELECT count(*) AS rows, count(DISTINCT suna_run_id) AS runs,
                  sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
                  sum(cached_tokens) AS cached_tokens,
                  sum(cache_write_tokens) AS cache_write_tokens,
                  sum(reasoning_tokens) AS reasoning_tokens, sum(cost_usd) AS cost_usd,
                  count(*) FILTER (WHERE NOT priced) AS unpriced
             FROM usage_log""")  # fmt: skip
    # every run that reached Suna — failed, stopped and taken over too — once
    assert ledger["rows"] == ledger["runs"] == stats.runs_started
    sim_tokens = {"input_tokens": stats.usage.input_tokens,
                  "output_tokens": stats.usage.output_tokens,
                  "cached_tokens": stats.usage.cached_tokens,
                  "cache_write_tokens": stats.usage.cache_creation_tokens,
                  "reasoning_tokens": stats.usage.reasoning_tokens}  # fmt: skip
    assert {k: int(ledger[k]) for k in sim_tokens} == sim_tokens
    assert stats.usage_by_model["anthropic/claude-sonnet-4"].input_tokens == 1800 * 2 + 1000 * 2
    assert stats.usage_by_model["openai/gpt-5-mini"].input_tokens == 700 * 2 + 1500

    for kind, column in KINDS.items():  # Prometheus
        assert delta(before, after, "renum_tokens_total", kind=kind) == sim_tokens[column], kind
    cost = Decimal(ledger["cost_usd"])
    assert cost == independent_cost(stats.usage_by_model).quantize(Decimal("1e-10"))
    assert abs(Decimal(str(delta(before, after, "renum_usage_cost_usd_total"))) - cost) < Decimal(
        "0.005")  # fmt: skip
    assert ledger["unpriced"] == 1
    assert delta(before, after, "renum_unpriced_runs_total", model="mystery-1") == 1

    report = await get_json(api, "/v1/usage?group_by=model")  # the report
    totals = report["totals"]
    assert {k: totals[k] for k in sim_tokens} == sim_tokens
    assert totals["runs"] == stats.runs_started and totals["unpriced_runs"] == 1
    assert Decimal(totals["cost_usd"]) == cost
    assert sum(Decimal(r["cost_usd"]) for r in report["rows"]) == cost
    mystery = next(r for r in report["rows"] if r["key"] == "mystery-1")
    assert mystery["cost_usd"] == "0" and mystery["unpriced_runs"] == 1

    events = await db.fetchval("SELECT count(*) FROM execution_events WHERE type = "
                               "'usage_recorded'")  # fmt: skip
    assert events == stats.runs_started
    assert delta(before, after, "renum_executions_total", status="completed") == 2
