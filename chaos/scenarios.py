"""The chaos scenarios and the one line of figures each prints.

Each scenario launches executions through the API, breaks something while
worker processes drive them, lets the service recover on its own, then
measures: executions completed, failed (by reason) and hung (not final when
the settle time ran out), duplicate Suna starts (the simulator's counter),
duplicate usage rows (more than one row for one step attempt), and the
reconciliation of the usage ledger with what the simulator reported (tokens,
and cost re-priced from the simulator's per-model token totals).
A scenario passes when hung, duplicates and both differences are zero.
"""

from __future__ import annotations

import asyncio
import base64
import random
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Any

from chaos.stack import ChaosStack, Deployment
from renum.usage import price
from suna_client.models import RunUsage
from suna_sim import SunaSimulator

__all__ = ["FULL", "SCENARIOS", "SHORT", "Report", "Size"]

MODEL = "openai/gpt-5-mini"
AGENTS = {"agents": [
    {"agent_id": "first", "answer": "one: {prompt}", "latency_ms": [50, 300], "model": MODEL,
     "input_tokens": 700, "output_tokens": 90, "cached_tokens": 200},
    {"agent_id": "second", "answer": "two: {prompt}", "latency_ms": [50, 300], "model": MODEL,
     "input_tokens": 400, "output_tokens": 60, "llm_calls": 2},
]}  # fmt: skip
TWO_STEPS = {"type": "sequential", "agents": [
    {"agent_id": "first", "role": "first", "input": {"source": "initial_prompt"}},
    {"agent_id": "second", "role": "second",
     "input": {"source": "agent_result", "agent_id": "first"}}]}  # fmt: skip
FINAL = ("completed", "failed", "cancelled", "budget_exceeded")
#: Cost differences below this are the ledger's numeric(20, 10) rounding, not money.
COST_TOLERANCE_USD = Decimal("0.000001")


@dataclass(frozen=True)
class Size:
    """How big a run is: the short form in `make test`, the full one in `make chaos`."""

    executions: int
    kills: int
    settle_s: float
    """How long the service may take to finish everything once the chaos stops."""
    seed: int = 1


SHORT = Size(executions=20, kills=3, settle_s=40.0)
FULL = Size(executions=200, kills=10, settle_s=180.0)


@dataclass
class Report:
    """The figures of one scenario."""

    name: str
    launched: int = 0
    completed: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    other: Counter[str] = field(default_factory=Counter)
    hung: int = 0
    duplicate_starts: int = 0
    duplicate_usage_rows: int = 0
    token_difference: int = 0
    wrong_keys: int = 0
    """Suna starts that did not carry the user's provider keys, exactly (key rotation)."""
    cost_difference_usd: Decimal = Decimal(0)
    notes: dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0

    @property
    def ok(self) -> bool:
        """No hung execution, no duplicate, nothing unreconciled."""
        unreconciled = abs(self.cost_difference_usd) >= COST_TOLERANCE_USD
        return not (self.hung or self.duplicate_starts or self.duplicate_usage_rows
                    or self.token_difference or self.wrong_keys or unreconciled)  # fmt: skip

    def line(self) -> str:
        """The one line of figures."""
        failed = sum(self.failed.values())
        reasons = ",".join(f"{k}:{v}" for k, v in sorted(self.failed.items()))
        extra = " ".join(f"{k}={v}" for k, v in {**self.other, **self.notes}.items())
        return (
            f"chaos {self.name}: launched={self.launched} completed={self.completed} "
            f"failed={failed}{f' ({reasons})' if reasons else ''} hung={self.hung} "
            f"duplicate_starts={self.duplicate_starts} "
            f"duplicate_usage_rows={self.duplicate_usage_rows} "
            f"token_diff={self.token_difference} cost_diff_usd={self.cost_difference_usd:.8f} "
            f"{f'wrong_keys={self.wrong_keys} ' if 'rotation' in self.name else ''}"
            f"{extra + ' ' if extra else ''}wall_s={self.wall_s:.1f} "
            f"{'OK' if self.ok else 'FAIL'}"
        )


# --- launching and measuring ---------------------------------------------------


async def _retrying(call: Callable[[], Awaitable[tuple[int, Any]]], timeout_s: float) -> Any:
    """Call until a 2xx (the API may be mid-outage); the body."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            status, body = await call()
            if status < 300:
                return body
            problem = f"HTTP {status}: {body}"
        except (TimeoutError, OSError) as exc:
            problem = repr(exc)
        if time.monotonic() > deadline:
            raise AssertionError(f"the API did not recover within {timeout_s:g} s: {problem}")
        await asyncio.sleep(0.25)


async def create_team(dep: Deployment, timeout_s: float = 30.0,
                      workflow: dict[str, Any] | None = None) -> str:  # fmt: skip
    """A two-step sequential team (or ``workflow``); its id."""
    body = {"name": "chaos", "workflow": workflow or TWO_STEPS}
    team = await _retrying(lambda: dep.request("POST", "/v1/teams", body), timeout_s)
    return str(team["id"])


async def launch(dep: Deployment, team_id: str, count: int, start: int = 0,
                 timeout_s: float = 30.0) -> int:  # fmt: skip
    """Launch ``count`` executions (20 at a time, each retried until accepted)."""
    path = f"/v1/teams/{team_id}/executions"

    async def one(i: int) -> None:
        body = {"initial_prompt": f"job {i}"}
        await _retrying(lambda: dep.request("POST", path, body), timeout_s)

    for offset in range(0, count, 20):
        batch = range(start + offset, start + min(count, offset + 20))
        await asyncio.gather(*(one(i) for i in batch))
    return count


async def settle(dep: Deployment, timeout_s: float) -> None:
    """Wait (bounded) until every execution is final, every run's usage is read (the
    workers read again what Suna would not give at first) and the simulator has no run
    left."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            left = await dep.pool.fetchval(
                """SELECT (SELECT count(*) FROM executions WHERE status <> ALL($1::text[]))
                        + (SELECT count(*) FROM step_runs WHERE usage_pending)""",
                list(FINAL),
            )
        except Exception:  # PostgreSQL may be down: ask again
            left = -1
        if left == 0 and dep.sim.stats().running == 0:
            return
        await asyncio.sleep(0.25)


async def measure(dep: Deployment, report: Report) -> Report:
    """Fill the report from PostgreSQL and the simulator's counters."""
    pool = dep.pool
    for row in await pool.fetch("SELECT status, count(*) AS n FROM executions GROUP BY status"):
        if row["status"] == "completed":
            report.completed = row["n"]
        elif row["status"] not in FINAL:
            report.hung += row["n"]
        elif row["status"] != "failed":
            report.other[row["status"]] = row["n"]
    for row in await pool.fetch(
        """SELECT coalesce((SELECT s.error->>'code' FROM step_runs s
                             WHERE s.execution_id = e.id AND s.status = 'failed'
                             ORDER BY s.updated_at DESC LIMIT 1), e.error->>'code') AS reason,
                  count(*) AS n
             FROM executions e WHERE e.status = 'failed' GROUP BY 1"""
    ):  # fmt: skip
        report.failed[row["reason"] or "unknown"] = row["n"]
    report.duplicate_usage_rows = await pool.fetchval(
        """SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM usage_log
            GROUP BY execution_id, step_id, attempt) AS t"""
    )
    stats = dep.sim.stats()
    report.duplicate_starts = stats.duplicate_starts
    report.notes["suna_runs"] = stats.runs_started
    if stats.faults_injected:
        report.notes["faults"] = ",".join(
            f"{k}:{v}" for k, v in sorted(stats.faults_injected.items())
        )
    ledger = await pool.fetchrow(
        """SELECT coalesce(sum(input_tokens), 0) AS input,
                  coalesce(sum(output_tokens), 0) AS output,
                  coalesce(sum(cached_tokens), 0) AS cached,
                  coalesce(sum(cost_usd), 0) AS cost FROM usage_log"""
    )  # fmt: skip
    sim = stats.usage
    report.token_difference = (
        abs(ledger["input"] - sim.input_tokens)
        + abs(ledger["output"] - sim.output_tokens)
        + abs(ledger["cached"] - sim.cached_tokens)
    )
    expected = Decimal(0)
    for model, totals in stats.usage_by_model.items():
        usage = RunUsage(**totals.model_dump(exclude={"cache_creation_tokens"}), model=model,
                         cache_creation_tokens=totals.cache_creation_tokens)  # fmt: skip
        expected += price(usage).cost_usd or Decimal(0)
    report.cost_difference_usd = Decimal(ledger["cost"]) - expected
    return report


# --- the scenarios ---------------------------------------------------------------


Chaos = Callable[[Deployment, str], Awaitable[None]]


async def _run(stack: ChaosStack, report: Report, size: Size, *, sim_options: dict[str, Any],
               workers: int, chaos: Chaos, workflow: dict[str, Any] | None = None,
               master_keys: str = "", verify: Chaos | None = None) -> Report:  # fmt: skip
    started = time.monotonic()
    async with SunaSimulator(jwt_secret="chaos-sim-secret-0123456789-0123456789-abcdef",
                             agents=AGENTS, seed=size.seed, **sim_options) as sim,  \
            stack.deploy(sim, workers, master_keys) as dep:  # fmt: skip
        team_id = await create_team(dep, workflow=workflow)
        await chaos(dep, team_id)
        await settle(dep, size.settle_s)
        report.launched = await dep.pool.fetchval("SELECT count(*) FROM executions")
        await measure(dep, report)
        if verify is not None:
            await verify(dep, team_id)
        if dep.kills:
            report.notes["kills"] = dep.kills
    report.wall_s = time.monotonic() - started
    return report


def _killing(size: Size) -> Chaos:
    """Launch ``size.executions`` while SIGKILLing a random worker ``size.kills`` times."""
    rng = random.Random(size.seed)

    async def chaos(dep: Deployment, team_id: str) -> None:
        launching = asyncio.create_task(launch(dep, team_id, size.executions))
        for _ in range(size.kills):
            await asyncio.sleep(rng.uniform(0.3, 2.0))
            await dep.kill_worker(rng.randrange(len(dep.workers)))
        await launching

    return chaos


async def worker_kills(stack: ChaosStack, size: Size) -> Report:
    """1. Executions while worker processes are SIGKILLed at random moments and restarted."""
    return await _run(stack, Report("worker_sigkill"), size, sim_options={}, workers=2,
                      chaos=_killing(size))  # fmt: skip


async def worker_kills_late_rows(stack: ChaosStack, size: Size) -> Report:
    """1b. The same kills on a v1 Suna that writes each run's row 1.5 s after answering its
    start: a take-over finds the thread but no run for a while, and must wait, not start."""
    return await _run(stack, Report("worker_sigkill_late_rows"), size, workers=2,
                      chaos=_killing(size), sim_options={"run_row_delay_ms": 1500})  # fmt: skip


async def worker_kills_api_2025(stack: ChaosStack, size: Size) -> Report:
    """1c. The same kills on an api-2025 Suna: threads made first, the prompt added as a
    message (never twice), the start last; reordered events, no pings."""
    return await _run(stack, Report("worker_sigkill_api_2025"), size, workers=2,
                      chaos=_killing(size), sim_options={"flavour": "api-2025"},
                      workflow={**TWO_STEPS, "model": MODEL})  # fmt: skip


async def suna_faults(stack: ChaosStack, size: Size) -> Report:
    """2. 20 % 5xx on every route, lost start answers, cut streams, 3 parallel runs, spikes."""
    faults = {
        "routes": [
            {"kind": "latency", "route": "*", "rate": 0.05, "latency_ms": 800},
            {"kind": "error", "route": "start_agent", "rate": 0.1, "status": 502, "after": True},
            {"kind": "error", "route": "*", "rate": 0.2, "status": 503},
        ],
        "runs": {"stream_cut_after": 2, "latency_spike_rate": 0.1, "latency_spike_ms": 1500},
    }

    async def chaos(dep: Deployment, team_id: str) -> None:
        await launch(dep, team_id, size.executions)

    return await _run(stack, Report("suna_faults"), size, workers=2, chaos=chaos,
                      sim_options={"faults": faults, "max_parallel_runs": 3})  # fmt: skip


async def redis_flushes(stack: ChaosStack, size: Size) -> Report:
    """3. Redis loses everything twice mid-run (FLUSHALL, then FLUSHDB)."""
    rng = random.Random(size.seed)

    async def chaos(dep: Deployment, team_id: str) -> None:
        launching = asyncio.create_task(launch(dep, team_id, size.executions))
        for flush in (dep.redis.flushall, dep.redis.flushdb):
            await asyncio.sleep(rng.uniform(0.5, 2.0))
            await flush()
        await launching

    return await _run(stack, Report("redis_flush"), size, sim_options={}, workers=2,
                      chaos=chaos)  # fmt: skip


async def _until_running(dep: Deployment, runs: int, timeout_s: float) -> None:
    """Wait (bounded) until ``runs`` step attempts have a run in Suna."""
    query = "SELECT count(*) FROM step_runs WHERE suna_run_id IS NOT NULL"
    for _ in range(int(timeout_s * 10)):
        if await dep.pool.fetchval(query) >= runs:
            return
        await asyncio.sleep(0.1)


async def postgres_restart(stack: ChaosStack, size: Size) -> Report:
    """4. PostgreSQL stopped (fast shutdown) and started again mid-run; half launched after."""
    rng = random.Random(size.seed)
    report = Report("postgres_restart")

    async def chaos(dep: Deployment, team_id: str) -> None:
        half = size.executions // 2
        await launch(dep, team_id, half)
        await _until_running(dep, max(1, half // 3), timeout_s=20.0)  # mid-run, workers up
        await asyncio.sleep(rng.uniform(0.0, 0.5))
        await asyncio.to_thread(stack.stop_postgres)
        down = time.monotonic()
        await asyncio.sleep(2.0)
        await asyncio.to_thread(stack.start_postgres)
        report.notes["pg_down_s"] = round(time.monotonic() - down, 1)
        await launch(dep, team_id, size.executions - half, start=half)  # the API recovered
        report.notes["api_recovered_s"] = round(time.monotonic() - down, 1)

    return await _run(stack, report, size, sim_options={}, workers=2, chaos=chaos)


KEYED_STEPS = {"type": "sequential", "agents": [
    {"agent_id": "first", "role": "first", "input": {"source": "initial_prompt"},
     "requires_keys": ["github"]},
    {"agent_id": "second", "role": "second", "requires_keys": ["openai"],
     "input": {"source": "agent_result", "agent_id": "first"}}]}  # fmt: skip
#: The chaos user's provider keys; other users' keys give the rotation volume.
USER_KEYS = {"github": "ghp-chaos-0123456789abcdef", "openai": "sk-chaos-0123456789abcdef"}
OTHER_USERS = 50


def _master_key(key_id: str) -> str:
    return f"{key_id}:" + base64.b64encode(secrets.token_bytes(32)).decode()


async def key_rotation(stack: ChaosStack, size: Size) -> Report:
    """5. Master-key rotation and removal of the old key under load, as the README says."""
    report = Report("key_rotation")
    old, new = _master_key("k1"), _master_key("k2")

    async def put_keys(dep: Deployment) -> None:
        puts = [(f"/v1/keys/{service}", value) for service, value in USER_KEYS.items()]
        puts += [(f"/v1/keys/openai?user_id=other{i}", f"sk-other-{i:04d}-abcdefgh")
                 for i in range(OTHER_USERS)]  # fmt: skip
        for path, value in puts:
            await _retrying(partial(dep.request, "PUT", path, {"value": value}), 30.0)

    async def chaos(dep: Deployment, team_id: str) -> None:
        await put_keys(dep)
        half = size.executions // 2
        await launch(dep, team_id, half)
        await _until_running(dep, max(1, half // 3), timeout_s=20.0)
        await dep.rolling_restart(f"{new},{old}")  # 1. the new key first, both open
        dep.master_keys = f"{new},{old}"
        code, output = await dep.renum("keys", "rotate", "--batch", "10")  # 2. re-wrap online
        report.notes["rotate_exit"] = code
        if code != 0:
            report.failed["rotate: " + output.splitlines()[-1][:80]] += 1
        await dep.rolling_restart(new)  # 3. drop the old key
        await launch(dep, team_id, size.executions - half, start=half)
        report.notes["keys_under_old"] = await dep.pool.fetchval(
            "SELECT count(*) FROM user_keys WHERE key_id <> 'k2'")  # fmt: skip

    async def verify(dep: Deployment, team_id: str) -> None:
        stats = dep.sim.stats()
        sent = list(stats.key_headers.values())
        report.wrong_keys = (
            stats.runs_started - len(sent) + sum(1 for headers in sent if headers != USER_KEYS)
        )

    return await _run(stack, report, size, sim_options={}, workers=2, chaos=chaos,
                      workflow=KEYED_STEPS, master_keys=old, verify=verify)  # fmt: skip


SCENARIOS: dict[str, Callable[[ChaosStack, Size], Awaitable[Report]]] = {
    "worker_sigkill": worker_kills,
    "worker_sigkill_late_rows": worker_kills_late_rows,
    "worker_sigkill_api_2025": worker_kills_api_2025,
    "suna_faults": suna_faults,
    "redis_flush": redis_flushes,
    "postgres_restart": postgres_restart,
    "key_rotation": key_rotation,
}
