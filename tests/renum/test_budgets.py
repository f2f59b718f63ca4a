"""Budgets: per execution and per user-month, reserved atomically; 402 on an exhausted launch."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from renum.budgets import BudgetExceededError, BudgetGuard, month_spent
from renum.events import EventLog
from suna_sim import SunaSimulator
from tests.conftest import ApiClient
from tests.renum.conftest import Engine
from tests.renum.helpers import create_team, get_json, launch, read_sse

AGENTS = {"agents": [
    {"agent_id": "worker", "answer": "done: {prompt}", "latency_ms": 300,
     "model": "openai/gpt-5-mini", "input_tokens": 2000, "output_tokens": 500},
]}  # fmt: skip


def _one_step(**options: Any) -> dict[str, Any]:
    return {
        "type": "sequential",
        **options,
        "agents": [{"agent_id": "worker", "role": "worker", "input": {"source": "initial_prompt"}}],
    }


async def _put_budget(api: ApiClient, user: str, monthly_usd: str, *, admin: bool = True) -> Any:
    async with api.http.put(api.url(f"/v1/budgets/{user}"), json={"monthly_usd": monthly_usd},
                            headers=api.auth("root", admin=admin)) as resp:  # fmt: skip
        return resp.status, await resp.json()


@pytest.mark.sim(agents=AGENTS)
async def test_launch_against_an_exhausted_user_budget_is_402(
    api: ApiClient, sim: SunaSimulator
) -> None:
    team_id = await create_team(api, _one_step())
    assert (await _put_budget(api, "alice", "0", admin=False))[0] == 403
    status, budget = await _put_budget(api, "alice", "0")
    assert status == 200 and budget["exhausted"] is True
    async with api.http.post(api.url(f"/v1/teams/{team_id}/executions"),
                             json={"initial_prompt": "x"}, headers=api.auth()) as resp:  # fmt: skip
        assert resp.status == 402
        assert resp.content_type == "application/problem+json"
        problem = await resp.json()
    assert problem["code"] == "budget_exhausted"
    own = await get_json(api, "/v1/budget")
    assert own == {**own, "monthly_usd": "0", "spent_usd": "0", "remaining_usd": "0",
                   "exhausted": True}  # fmt: skip
    assert (await get_json(api, "/v1/budget", user="bob"))["monthly_usd"] is None
    assert sim.stats().runs_started == 0


@pytest.mark.sim(agents=AGENTS)
async def test_an_execution_budget_stops_new_steps(
    api: ApiClient, engine: Engine, sim: SunaSimulator
) -> None:
    workflow = {"type": "sequential", "agents": [
        {"agent_id": "worker", "role": "r", "id": f"s{i}", "input": {"source": "initial_prompt"}}
        for i in range(3)]}  # fmt: skip
    team_id = await create_team(api, workflow)
    execution_id = (await launch(api, team_id, budget_usd="0.000001"))["execution_id"]
    await engine.drain()
    execution = await get_json(api, f"/v1/executions/{execution_id}")
    assert execution["status"] == "budget_exceeded"
    assert [s["status"] for s in execution["steps"]] == ["completed", "cancelled", "cancelled"]
    assert execution["error"]["budget"] == "execution"
    events = await read_sse(api, f"/v1/executions/{execution_id}/events")
    exceeded = [e for e in events if e["event"] == "budget_exceeded"]
    assert len(exceeded) == 1 and exceeded[0]["data"]["data"]["budget"] == "execution"
    assert events[-1]["event"] == "execution_budget_exceeded"
    assert sim.stats().runs_started == 1


@pytest.mark.slow
@pytest.mark.sim(agents=AGENTS)
async def test_fifty_concurrent_steps_overshoot_a_budget_by_at_most_one_step(
    api: ApiClient, engine: Engine, sim: SunaSimulator, db: Any
) -> None:
    team_id = await create_team(api, _one_step())
    await launch(api, team_id, "warm-up")  # the agent's cost becomes the next estimate
    await engine.drain()
    step_cost = await db.fetchval("SELECT cost_usd FROM usage_log")
    assert step_cost > 0
    budget = await month_spent(db, "alice") + step_cost * Decimal("10.5")
    await _put_budget(api, "alice", str(budget))
    ids = [(await launch(api, team_id, f"job {i}"))["execution_id"] for i in range(50)]
    await engine.drain(concurrency=200)
    spent = await month_spent(db, "alice")
    assert spent <= budget + step_cost, (spent, budget, step_cost)
    statuses = [(await get_json(api, f"/v1/executions/{i}"))["status"] for i in ids]
    completed = statuses.count("completed")
    assert statuses.count("budget_exceeded") == 50 - completed
    assert 10 <= completed <= 11  # all the room was used, and at most one step beyond it
    assert sim.stats().runs_started == 1 + completed
    own = await get_json(api, "/v1/budget")
    assert own["exhausted"] is True
    async with api.http.post(api.url(f"/v1/teams/{team_id}/executions"),
                             json={"initial_prompt": "x"}, headers=api.auth()) as resp:  # fmt: skip
        assert resp.status == 402


@pytest.mark.sim(agents=AGENTS)
async def test_fifty_parallel_steps_of_one_execution_against_its_budget(
    api: ApiClient, engine: Engine, sim: SunaSimulator, db: Any
) -> None:
    team_id = await create_team(api, _one_step(), name="warm")
    await launch(api, team_id, "warm-up")
    await engine.drain()
    step_cost = await db.fetchval("SELECT cost_usd FROM usage_log")
    budget = step_cost * Decimal("7.5")
    workflow = {"type": "parallel", "max_concurrency": 50, "agents": [
        {"agent_id": "worker", "role": "r", "id": f"s{i}", "input": {"source": "initial_prompt"}}
        for i in range(50)]}  # fmt: skip
    team_id = await create_team(api, workflow, name="wide")
    execution_id = (await launch(api, team_id, budget_usd=str(budget)))["execution_id"]
    await engine.drain()
    execution = await get_json(api, f"/v1/executions/{execution_id}")
    spent = Decimal(execution["usage"]["cost_usd"])
    assert execution["status"] == "budget_exceeded"
    assert budget <= spent <= budget + step_cost
    completed = [s for s in execution["steps"] if s["status"] == "completed"]
    assert len(completed) == 8 == execution["usage"]["agent_runs"]
    assert sim.stats().runs_started == 1 + 8


async def test_counters_are_rebuilt_from_the_ledger_when_redis_lost_them(
    db: Any, redis: Any
) -> None:
    await db.execute("INSERT INTO user_budgets (user_id, monthly_usd) VALUES ('carol', 1)")
    await db.execute(
        """INSERT INTO usage_log (suna_run_id, user_id, agent_id, cost_usd, priced)
           VALUES ('r1', 'carol', 'a', 0.6, true), ('r2', 'carol', 'a', 0.3, true)"""
    )
    guard = BudgetGuard(db, redis)
    hold = await guard.reserve(execution_id="00000000-0000-0000-0000-000000000000",
                               execution_budget_usd=None, user_id="carol", agent_id="a",
                               model=None, prompt_chars=0, hold_ttl_s=60)  # fmt: skip
    assert hold is not None  # 0.9 spent (rebuilt), 1 allowed: one more step may start
    with pytest.raises(BudgetExceededError) as exc:  # 0.9 + 0.6 held ≥ 1
        await guard.reserve(execution_id="00000000-0000-0000-0000-000000000000",
                            execution_budget_usd=None, user_id="carol", agent_id="a",
                            model=None, prompt_chars=0, hold_ttl_s=60)  # fmt: skip
    assert exc.value.scope == "user_monthly"
    await guard.release(hold)
    await redis.flushdb()  # Redis lost everything: rebuilt from usage_log again
    again = await guard.reserve(execution_id="00000000-0000-0000-0000-000000000000",
                                execution_budget_usd=Decimal("0.5"), user_id="carol",
                                agent_id="a", model=None, prompt_chars=0,
                                hold_ttl_s=60)  # fmt: skip
    assert again is not None
    keys = sorted(await redis.keys("renum:budget:*:spent"))
    assert len(keys) == 2
    assert await redis.get(next(k for k in keys if ":user:" in k)) == "900000"


async def test_a_reservation_can_count_a_cost_in_place_of_its_hold(db: Any, redis: Any) -> None:
    """What a step opened with its predecessor's outcome reserves against: the predecessor's
    cost (not counted yet) instead of its hold (not released yet)."""
    await db.execute("INSERT INTO user_budgets (user_id, monthly_usd) VALUES ('dave', 1)")
    await db.execute(
        """INSERT INTO usage_log (suna_run_id, user_id, agent_id, cost_usd, priced)
           VALUES ('d1', 'dave', 'a', 0.5, true)"""
    )
    guard = BudgetGuard(db, redis)
    ex = "00000000-0000-0000-0000-000000000000"

    async def reserve(**extra: Any) -> Any:
        return await guard.reserve(execution_id=ex, execution_budget_usd=None, user_id="dave",
                                   agent_id="a", model=None, prompt_chars=0,
                                   hold_ttl_s=60, **extra)  # fmt: skip

    first = await reserve()  # 0.5 spent; holds 0.5 (the agent's largest recent cost)
    with pytest.raises(BudgetExceededError):  # 0.5 + 0.5 held ≥ 1
        await reserve()
    # the first step cost 0.4: 0.9 once counted, its hold gone; room for one more
    second = await reserve(spent_usd=Decimal("0.4"), replacing=first)
    assert second is not None
    await guard.release(second)
    with pytest.raises(BudgetExceededError) as exc:  # it cost 0.5: 1.0, no room
        await reserve(spent_usd=Decimal("0.5"), replacing=first)
    assert exc.value.spent_usd == Decimal(1)


async def test_a_cost_is_counted_with_the_events_even_after_redis_lost_its_scripts(
    db: Any, redis: Any
) -> None:
    await db.execute("INSERT INTO user_budgets (user_id, monthly_usd) VALUES ('erin', 10)")
    guard = BudgetGuard(db, redis)
    hold = await guard.reserve(execution_id="00000000-0000-0000-0000-000000000000",
                               execution_budget_usd=None, user_id="erin", agent_id="a",
                               model=None, prompt_chars=0, hold_ttl_s=60)  # fmt: skip
    assert hold is not None  # the month's counter exists now, at 0
    (counter,) = await redis.keys("renum:budget:*erin*:spent")
    events = EventLog(db, redis)
    now = datetime.now(UTC)
    await events.publish([], guard.spent(user_id="erin", execution_id=None,
                                         cost_usd=Decimal("0.25"), at=now))  # fmt: skip
    assert await redis.get(counter) == "250000"
    await redis.script_flush()  # a Redis restart loses its scripts: the pipeline's EVALSHA fails
    await events.publish([], guard.spent(user_id="erin", execution_id=None,
                                         cost_usd=Decimal("0.5"), at=now))  # fmt: skip
    assert await redis.get(counter) == "750000"


@pytest.mark.sim(agents=AGENTS)
async def test_a_budget_set_mid_execution_stops_its_next_step(
    api: ApiClient, engine: Engine, sim: SunaSimulator, db: Any
) -> None:
    """The worker read "no budget" before the first step; the API's notice makes it read again."""
    workflow = {"type": "sequential", "agents": [
        {"agent_id": "worker", "role": "r", "id": f"s{i}", "input": {"source": "initial_prompt"}}
        for i in range(3)]}  # fmt: skip
    team_id = await create_team(api, workflow)
    async with engine.running(burst=True) as worker:
        execution_id = (await launch(api, team_id))["execution_id"]
        for _ in range(600):  # the first step's run is in Suna: its budget lookup is done
            if sim.stats().runs_started:
                break
            await asyncio.sleep(0.01)
        assert (await _put_budget(api, "alice", "0.000001"))[0] == 200
        await worker.done
    execution = await get_json(api, f"/v1/executions/{execution_id}")
    assert execution["status"] == "budget_exceeded"
    assert [s["status"] for s in execution["steps"]] == ["completed", "cancelled", "cancelled"]
    assert execution["error"]["budget"] == "user_monthly"
    assert sim.stats().runs_started == 1
