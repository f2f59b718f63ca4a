"""Budget holds follow the step's model and prompt; unpriced models are refused or counted."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import genai_prices
import pytest

from renum.budgets import BudgetGuard, month_spent
from renum.estimates import ModelUnpricedError
from renum.redis_keys import budget_holds_key
from renum.settings import Settings
from suna_sim import SunaSimulator
from tests.conftest import ApiClient
from tests.renum.conftest import Engine
from tests.renum.helpers import create_team, get_json, launch

CHEAP, DEAR, UNPRICED = "openai/gpt-5-mini", "anthropic/claude-opus-4", "acme/house-model-1"
AGENTS = {"agents": [
    {"agent_id": "worker", "answer": "done: {prompt}", "latency_ms": 300,
     "model": CHEAP, "input_tokens": 2000, "output_tokens": 500},
]}  # fmt: skip
EX = "00000000-0000-0000-0000-000000000000"


def _cost(model: str, input_tokens: int = 2000, output_tokens: int = 500) -> Decimal:
    provider, _, name = model.partition("/")
    return Decimal(genai_prices.calc_price(genai_prices.Usage(
        input_tokens=input_tokens, output_tokens=output_tokens), name,
        provider_id=provider).total_price)  # fmt: skip


def _wide(n: int, **options: Any) -> dict[str, Any]:
    return {"type": "parallel", "max_concurrency": 50, **options, "agents": [
        {"agent_id": "worker", "role": "r", "id": f"s{i}", "input": {"source": "initial_prompt"}}
        for i in range(n)]}  # fmt: skip


async def _cheap_history(api: ApiClient, engine: Engine, runs: int = 3) -> None:
    """The agent's earlier runs, on the cheap model: what the old estimate was made of."""
    team_id = await create_team(api, _wide(1), name="history")
    for i in range(runs):
        await launch(api, team_id, f"warm-up {i}")
    await engine.drain()


async def _put_budget(api: ApiClient, user: str, monthly_usd: Decimal) -> None:
    async with api.http.put(api.url(f"/v1/budgets/{user}"), json={"monthly_usd": str(
            monthly_usd)}, headers=api.auth("root", admin=True)) as resp:  # fmt: skip
        assert resp.status == 200, await resp.text()


@pytest.mark.sim(agents=AGENTS)
async def test_parallel_steps_on_a_dear_model_hold_its_cost_not_the_cheap_history(
    api: ApiClient, engine: Engine, sim: SunaSimulator
) -> None:
    await _cheap_history(api, engine)
    team_id = await create_team(api, _wide(16, model=DEAR), name="dear")
    execution_id = (await launch(api, team_id, budget_usd="0.01"))["execution_id"]
    await engine.drain()
    execution = await get_json(api, f"/v1/executions/{execution_id}")
    spent = Decimal(execution["usage"]["cost_usd"])
    assert execution["status"] == "budget_exceeded"
    assert spent <= Decimal("0.01") + _cost(DEAR), spent  # (16 steps would be 1.08 USD)
    assert execution["usage"]["agent_runs"] == 1
    assert sim.stats().runs_started == 3 + 1


async def _held(redis: Any, scope: str) -> list[int]:
    holds = await redis.hgetall(budget_holds_key(scope))
    return sorted(int(v.split(":")[0]) for v in holds.values())


async def test_the_hold_is_the_agents_tokens_at_the_steps_model_and_prompt(
    db: Any, redis: Any
) -> None:
    await db.execute(
        """INSERT INTO usage_log (suna_run_id, user_id, agent_id, model, provider, input_tokens,
                                  output_tokens, llm_calls, cost_usd, priced)
           VALUES ('h1', 'fay', 'a', 'gpt-5-mini', 'openai', 2000, 500, 2, $1, true)""",
        _cost(CHEAP),
    )  # fmt: skip
    guard = BudgetGuard(db, redis)

    async def hold(model: str | None, prompt_chars: int, agent_id: str = "a") -> None:
        await guard.reserve(execution_id=EX, execution_budget_usd=Decimal(100), user_id="fay",
                            agent_id=agent_id, model=model, prompt_chars=prompt_chars,
                            hold_ttl_s=60)  # fmt: skip

    await hold(CHEAP, 0)
    await hold(DEAR, 0)
    await hold(None, 0)  # the agent's own default: its latest run's model (cheap)
    # 400,000 characters are 100,000 tokens more than that run's prompt, read by each of
    # its two LLM calls
    await hold(DEAR, 400_000)
    await hold(DEAR, 400_000, agent_id="new")  # no run yet: the prompt's price, not 0.05
    micro = Decimal(1_000_000)
    assert await _held(redis, f"execution:{EX}") == sorted(int(c * micro) for c in (
        _cost(CHEAP), _cost(DEAR), _cost(CHEAP), _cost(DEAR, 202_000),
        _cost(DEAR, 100_000, 0)))  # fmt: skip


async def test_a_step_on_its_agents_unpriced_default_model_is_refused(
    db: Any, redis: Any
) -> None:
    await db.execute(
        """INSERT INTO usage_log (suna_run_id, user_id, agent_id, model, input_tokens, priced)
           VALUES ('u1', 'gus', 'a', 'house-model-1', 900, false)"""
    )
    with pytest.raises(ModelUnpricedError) as exc:
        await BudgetGuard(db, redis).reserve(
            execution_id=EX, execution_budget_usd=Decimal(1), user_id="gus", agent_id="a",
            model=None, prompt_chars=10, hold_ttl_s=60)  # fmt: skip
    assert exc.value.to_json()["code"] == "model_unpriced"
    assert "house-model-1 (the agent's own default" in str(exc.value)
    guard = BudgetGuard(db, redis, unpriced_estimate_usd=Decimal("0.2"))
    await guard.reserve(execution_id=EX, execution_budget_usd=Decimal(1), user_id="gus",
                        agent_id="a", model=None, prompt_chars=10, hold_ttl_s=60)  # fmt: skip
    assert await _held(redis, f"execution:{EX}") == [200_000]


@pytest.mark.sim(agents=AGENTS)
async def test_a_step_on_an_unpriced_model_does_not_start_under_a_budget(
    api: ApiClient, engine: Engine, sim: SunaSimulator
) -> None:
    await _put_budget(api, "alice", Decimal("0.001"))
    team_id = await create_team(api, _wide(1, model=UNPRICED))
    ids = [(await launch(api, team_id, f"job {i}"))["execution_id"] for i in range(10)]
    await engine.drain()
    for execution_id in ids:
        execution = await get_json(api, f"/v1/executions/{execution_id}")
        assert execution["status"] == "failed"
        assert execution["error"]["cause"] == "model_unpriced"
        (step,) = execution["steps"]
        assert step["status"] == "failed" and step["error"]["code"] == "model_unpriced"
        assert UNPRICED in step["error"]["message"]
        assert "RENUM_UNPRICED_STEP_ESTIMATE_USD" in step["error"]["message"]
    assert sim.stats().runs_started == 0
    other = await create_team(api, _wide(1, model=UNPRICED), user="bob")  # no budget: it runs
    await launch(api, other, user="bob")
    await engine.drain()
    assert sim.stats().runs_started == 1


def _with_unpriced(settings: Settings, usd: str) -> Engine:
    return Engine(settings.model_copy(update={"unpriced_step_estimate_usd": Decimal(usd)}))


@pytest.mark.sim(agents=AGENTS)
async def test_an_unpriced_run_is_held_and_counted_at_the_configured_estimate(
    api: ApiClient, settings: Settings, sim: SunaSimulator, db: Any
) -> None:
    await _put_budget(api, "alice", Decimal("0.001"))
    team_id = await create_team(api, _wide(1, model=UNPRICED))
    for i in range(10):
        await launch(api, team_id, f"job {i}")
    await _with_unpriced(settings, "0.0004").drain(concurrency=200)
    runs = sim.stats().runs_started
    rows = await db.fetch("SELECT cost_usd, estimated_usd, input_tokens FROM usage_log")
    assert len(rows) == runs >= 1
    assert all(r["cost_usd"] is None and r["estimated_usd"] == Decimal("0.0004")
               and r["input_tokens"] for r in rows)  # fmt: skip
    spent = Decimal((await get_json(api, "/v1/budget"))["spent_usd"])
    assert spent == runs * Decimal("0.0004") == await month_spent(db, "alice")
    assert spent <= Decimal("0.001") + Decimal("0.0004")  # (ten runs would be 0.004)


MIXED_AGENTS = {"agents": [
    {"agent_id": "worker", "answer": "done: {prompt}", "latency_ms": [200, 600],
     "model": CHEAP, "input_tokens": 2000, "output_tokens": 500},
]}  # fmt: skip


@pytest.mark.slow
@pytest.mark.sim(agents=MIXED_AGENTS)
async def test_mixed_models_in_parallel_overshoot_each_budget_by_at_most_one_step(
    api: ApiClient, engine: Engine, settings: Settings, sim: SunaSimulator, db: Any
) -> None:
    """The README's promise, with execution and monthly budgets at once: cheap history,
    then executions of parallel steps on a cheap, a dear and an unpriced model."""
    await _cheap_history(api, engine)
    models = [CHEAP, DEAR, UNPRICED, DEAR, CHEAP, DEAR, CHEAP, UNPRICED] * 2
    workflow = {"type": "parallel", "agents": [
        {"agent_id": "worker", "role": "r", "id": f"s{i}", "model": m,
         "input": {"source": "initial_prompt"}} for i, m in enumerate(models)]}  # fmt: skip
    team_id = await create_team(api, workflow, name="mixed")
    one_step = max(_cost(DEAR), Decimal("0.01"))  # the dearest step (unpriced: its estimate)
    monthly = await month_spent(db, "alice") + Decimal("0.3")
    await _put_budget(api, "alice", monthly)
    ids = [(await launch(api, team_id, f"job {i}", budget_usd="0.12"))["execution_id"]
           for i in range(6)]  # fmt: skip
    await _with_unpriced(settings, "0.01").drain(concurrency=200)
    for execution_id in ids:
        execution = await get_json(api, f"/v1/executions/{execution_id}")
        assert execution["status"] == "budget_exceeded"
        counted = await db.fetchval(
            """SELECT coalesce(sum(coalesce(cost_usd, estimated_usd)), 0) FROM usage_log
                WHERE execution_id = $1""", execution_id)  # fmt: skip
        assert counted <= Decimal("0.12") + one_step, (execution_id, counted)
    spent = await month_spent(db, "alice")
    assert monthly <= spent + one_step  # the room was used
    assert spent <= monthly + one_step, (spent, monthly)
    assert Decimal((await get_json(api, "/v1/budget"))["spent_usd"]) == spent
