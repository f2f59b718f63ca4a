"""Budget figures: what parallel steps spend against a budget, beside what the budget allows.

Run: .venv/bin/python bench/budgets.py [--steps 16] [--budget-usd 0.01]

The *budget case*: an agent runs a few times on a cheap model (its history),
then one execution runs ``--steps`` parallel steps of it on an expensive model
under an execution budget of ``--budget-usd``. Printed beside the spend, from
the same run: the budget, the README's bound (the budget plus one step's cost)
and what the steps cost with no budget. The *unpriced case*: ten one-step
executions, one after another, on a model genai-prices cannot price under a
monthly budget of 0.001 USD; how many runs started and what the budget counted
for them (set RENUM_UNPRICED_STEP_ESTIMATE_USD to see such runs held and counted).

Uses DATABASE_URL / REDIS_URL when set, else embedded servers in a temporary
directory; the Suna simulator runs in this process. Works against any Renum
revision with per-execution and monthly budgets (it writes rows directly, as
bench/engine.py does), so a figure can be taken before and after a change.
Printed, never asserted. The last line is ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dsl
from renum.budgets import month_spent
from renum.db import migrate
from renum.engine.queue import ExecutionQueue
from renum.engine.worker import Worker, WorkerConfig
from renum.keys import generate_master_key
from renum.resources import open_resources
from renum.settings import Settings
from renum.suna import build_suna_client
from renum.usage import price
from suna_client import RunUsage
from suna_sim import DEV_ACCOUNT_ID, SunaSimulator, agent_uuid

SECRET = "bench-secret-0123456789-0123456789-abc"
CHEAP, DEAR, UNPRICED = "openai/gpt-5-mini", "anthropic/claude-opus-4", "acme/house-model-1"
TOKENS = {"input_tokens": 2000, "output_tokens": 500}
AGENTS = {"agents": [{"agent_id": "worker", "answer": "done", "latency_ms": 300,
                      "model": CHEAP, **TOKENS}]}  # fmt: skip
HISTORY_RUNS = 3


def step_cost(model: str) -> Decimal:
    """One step's cost on ``model`` (the simulator's tokens are the same for every run)."""
    cost = price(RunUsage(model=model, **TOKENS)).cost_usd
    assert cost is not None
    return cost


class Bench:
    def __init__(self, resources: Any, settings: Settings) -> None:
        self.resources = resources
        self.settings = settings
        self.pool = resources.pool

    async def launch(self, workflow: dict[str, Any], count: int,
                     budget_usd: Decimal | None = None) -> list[str]:  # fmt: skip
        plan = dsl.compile(dsl.load(workflow)).to_dict()
        team_id = uuid.uuid4()
        await self.pool.execute(
            """INSERT INTO teams (id, user_id, name, workflow, plan)
               VALUES ($1, 'bench', $2, $3, $4)""",
            team_id, f"t-{team_id}", workflow, plan)  # fmt: skip
        ids = [uuid.uuid4() for _ in range(count)]
        agents = {"worker": agent_uuid(DEV_ACCOUNT_ID, "worker")}
        await self.pool.executemany(
            """INSERT INTO executions (id, user_id, team_id, status, initial_prompt, workflow, plan,
                                       agents, budget_usd)
               VALUES ($1, 'bench', $2, 'queued', 'go', $3, $4, $5, $6)""",
            [(i, team_id, workflow, plan, agents, budget_usd) for i in ids])  # fmt: skip
        queue = ExecutionQueue(self.resources.redis)
        for i in ids:
            await queue.enqueue(str(i))
        return [str(i) for i in ids]

    async def drive(self) -> None:
        config = WorkerConfig(concurrency=200, burst=True, read_block_ms=20,
                              sweep_interval_s=3600)  # fmt: skip
        async with build_suna_client(self.settings) as suna:
            await Worker(self.resources, suna, config).run()

    async def reset(self) -> None:
        await self.pool.execute("TRUNCATE teams, executions, usage_log, user_budgets CASCADE")
        await self.resources.redis.flushdb()

    async def budget_case(self, steps: int, budget: Decimal) -> dict[str, Any]:
        await self.reset()
        await self.launch(_wide(1), HISTORY_RUNS)  # the agent's history, on the cheap model
        await self.drive()
        (execution_id,) = await self.launch(_wide(steps, model=DEAR), 1, budget)
        await self.drive()
        row = await self.pool.fetchrow(
            """SELECT coalesce(sum(cost_usd), 0) AS spent, count(*) AS runs FROM usage_log
                WHERE execution_id = $1""", uuid.UUID(execution_id))  # fmt: skip
        one = step_cost(DEAR)
        return {"steps": steps, "model": DEAR, "history_model": CHEAP,
                "budget_usd": str(budget), "spent_usd": str(row["spent"].normalize()),
                "spent_over_budget": round(float(row["spent"] / budget), 2),
                "bound_usd": str(budget + one), "unbudgeted_usd": str(one * steps),
                "steps_run": row["runs"]}  # fmt: skip

    async def unpriced_case(self, runs: int, budget: Decimal) -> dict[str, Any]:
        await self.reset()
        await self.pool.execute(
            "INSERT INTO user_budgets (user_id, monthly_usd) VALUES ('bench', $1)", budget
        )
        for _ in range(runs):  # one after another: each sees the others' spend
            await self.launch(_wide(1, model=UNPRICED), 1)
            await self.drive()
        started = await self.pool.fetchval("SELECT count(*) FROM usage_log")
        statuses = await self.pool.fetch(
            "SELECT status, count(*) AS n FROM executions GROUP BY status ORDER BY status"
        )
        return {"executions": runs, "model": UNPRICED, "budget_usd": str(budget),
                "runs_started": started,
                "spent_usd": str((await month_spent(self.pool, "bench")).normalize()),
                "statuses": {r["status"]: r["n"] for r in statuses}}  # fmt: skip


def _wide(n: int, **options: Any) -> dict[str, Any]:
    return {"type": "parallel", "max_concurrency": 50, **options, "agents": [
        {"agent_id": "worker", "role": "r", "id": f"s{i}", "input": {"source": "initial_prompt"}}
        for i in range(n)]}  # fmt: skip


async def main(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="renum-bench-"))
    async with SunaSimulator(jwt_secret=SECRET, agents=AGENTS, max_parallel_runs=0) as sim:
        os.environ.update(SUNA_BASE_URL=sim.base_url, SUNA_JWT_SECRET=SECRET,
                          RENUM_DATA_DIR=str(tmp))  # fmt: skip
        os.environ.setdefault("RENUM_MASTER_KEYS", generate_master_key("bench"))  # a throwaway
        settings = Settings()
        async with open_resources(settings) as resources:
            await migrate(resources.database_url)
            bench = Bench(resources, settings)
            return {"budget_case": await bench.budget_case(args.steps, args.budget_usd),
                    "unpriced_case": await bench.unpriced_case(10, Decimal("0.001"))}  # fmt: skip


def _print(results: dict[str, Any]) -> None:
    b = results["budget_case"]
    print(f"budget case: {b['steps']} parallel steps on {b['model']} after {HISTORY_RUNS} runs on"
          f" {b['history_model']}, execution budget {b['budget_usd']} USD: spent"
          f" {b['spent_usd']} USD = {b['spent_over_budget']} x the budget, {b['steps_run']} of"
          f" {b['steps']} steps run (bound: budget + one step = {b['bound_usd']} USD; the steps"
          f" with no budget: {b['unbudgeted_usd']} USD)")  # fmt: skip
    u = results["unpriced_case"]
    print(f"unpriced case: {u['executions']} one-step executions on {u['model']}, monthly budget"
          f" {u['budget_usd']} USD: {u['runs_started']} runs started, budget counted"
          f" {u['spent_usd']} USD; executions {u['statuses']}")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=16, help="parallel steps on the dear model")
    parser.add_argument("--budget-usd", type=Decimal, default=Decimal("0.01"),
                        help="the execution's budget")  # fmt: skip
    figures = asyncio.run(main(parser.parse_args()))
    _print(figures)
    print("RESULT " + json.dumps({"budgets": figures}, default=str))
