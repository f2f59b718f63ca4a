"""Durability: a worker killed with SIGKILL, Redis flushed mid-run, several workers sharing."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from typing import Any

import pytest

from suna_sim import SunaSimulator
from tests.conftest import ApiClient
from tests.renum.conftest import Engine
from tests.renum.helpers import create_team, get_json, launch

SLOW_AGENTS = {"agents": [
    {"agent_id": "first", "answer": "one: {prompt}", "latency_ms": 800},
    {"agent_id": "second", "answer": "two: {prompt}", "latency_ms": 800},
    {"agent_id": "quick", "answer": "{\"ok\": true}", "latency_ms": [5, 30]},
]}  # fmt: skip
TWO_STEPS = {"type": "sequential", "agents": [
    {"agent_id": "first", "role": "first", "input": {"source": "initial_prompt"}},
    {"agent_id": "second", "role": "second", "input": {"source": "agent_result",
                                                       "agent_id": "first"}}]}  # fmt: skip


async def _wait_until(db: Any, query: str, *args: Any, timeout_s: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await db.fetchval(query, *args):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for: {query}")
        await asyncio.sleep(0.05)


async def _wait_for_consumers(redis: Any, count: int, timeout_s: float = 60) -> None:
    """Until ``count`` workers are blocked reading the queue (Redis lists a consumer only
    once it has read an entry, so the readers are counted among the connections)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        clients = await redis.client_list()
        if sum(1 for c in clients if c.get("cmd") in ("xreadgroup", "xautoclaim")) >= count:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{count} workers did not join the queue")


async def _all_final(db: Any, timeout_s: float = 60) -> None:
    await _wait_until(
        db, "SELECT NOT EXISTS (SELECT 1 FROM executions WHERE status IN "
        "('queued', 'running', 'waiting_for_credentials'))", timeout_s=timeout_s)  # fmt: skip


async def _sigkill(victim: subprocess.Popen[bytes]) -> None:
    victim.send_signal(signal.SIGKILL)
    await asyncio.to_thread(victim.wait)


async def _survivor_finishes(engine: Engine, db: Any, **env: str) -> None:
    """A new worker process drives every execution to its end."""
    survivor = engine.worker_process(**env)
    try:
        await _all_final(db)
    finally:
        survivor.terminate()
        await asyncio.to_thread(survivor.wait, 30)


#: The worker processes' settings on each flavour (api-2025 fails a run without a model).
FLAVOUR_ENV = {"api-2025": {"SUNA_DEFAULT_MODEL": "openai/gpt-5-mini"}, "v1": {}}


def _on_each_flavour(*pairs: tuple[str, str]) -> Any:
    return pytest.mark.parametrize(("flavour", "held"), [
        pytest.param(f, held, marks=pytest.mark.sim(flavour=f, agents=SLOW_AGENTS), id=f)
        for f, held in pairs])  # fmt: skip


@pytest.mark.slow
@_on_each_flavour(("api-2025", ""), ("v1", ""))
async def test_worker_killed_mid_step_another_finishes_without_duplicates(
    api: ApiClient, engine: Engine, sim: SunaSimulator, db: Any, flavour: str, held: str
) -> None:
    team_id = await create_team(api, TWO_STEPS)
    ids = [(await launch(api, team_id, f"job {i}"))["execution_id"] for i in range(4)]
    env = FLAVOUR_ENV[flavour]
    victim = engine.worker_process(**env)
    try:
        # kill once every execution has a run in Suna, before any has finished its step
        await _wait_until(db, "SELECT count(*) = 4 FROM step_runs WHERE suna_run_id IS NOT NULL")
        await _sigkill(victim)
    finally:
        if victim.poll() is None:
            victim.kill()
    await _survivor_finishes(engine, db, **env)
    for execution_id in ids:
        execution = await get_json(api, f"/v1/executions/{execution_id}")
        assert execution["status"] == "completed", execution
        assert [s["attempt"] for s in execution["steps"]] == [1, 1]
    stats = sim.stats()
    assert stats.duplicate_starts == 0
    assert stats.runs_started == 8
    assert await db.fetchval("SELECT count(*) FROM usage_log") == 8
    assert await db.fetchval("SELECT count(DISTINCT suna_run_id) FROM usage_log") == 8


@pytest.mark.slow
@_on_each_flavour(("api-2025", "add_message"), ("v1", "start_agent"))
async def test_worker_killed_between_opening_a_step_and_starting_it(
    api: ApiClient, engine: Engine, sim: SunaSimulator, db: Any, flavour: str, held: str
) -> None:
    """The first step's outcome statement also opened the second (row, thread, step_started);
    the worker dies before the second step's prompt is in its thread (api-2025: adding it is
    held; v1: the start carrying it is). The survivor resumes it: one prompt, one run, one
    step_started."""
    team_id = await create_team(api, TWO_STEPS)
    execution_id = (await launch(api, team_id, "hand over"))["execution_id"]
    env = FLAVOUR_ENV[flavour]
    victim = engine.worker_process(**env)
    try:
        # the first step's run has started (so its prompt is in): hold the next one back
        await _wait_until(db, "SELECT count(*) = 1 FROM step_runs WHERE suna_run_id IS NOT NULL")
        sim.set_faults({"routes": [{"kind": "latency", "route": held,
                                    "latency_ms": 60_000}]})  # fmt: skip
        await _wait_until(db, "SELECT count(*) = 2 FROM step_runs WHERE suna_thread_id IS NOT NULL")
        await _sigkill(victim)
    finally:
        if victim.poll() is None:
            victim.kill()
    sim.set_faults({})
    await _survivor_finishes(engine, db, **env)
    execution = await get_json(api, f"/v1/executions/{execution_id}")
    assert execution["status"] == "completed", execution
    assert [s["attempt"] for s in execution["steps"]] == [1, 1]
    events = await db.fetch(
        """SELECT seq, type, data, created_at FROM execution_events WHERE execution_id = $1
            ORDER BY seq""",
        execution_id,
    )
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    kinds = [(e["type"], (e["data"] or {}).get("step_id")) for e in events]
    assert kinds.count(("step_started", "second")) == 1
    # written by the statement that recorded the first step's outcome (one transaction,
    # one now()), right after it
    opened = kinds.index(("step_started", "second"))
    assert opened == kinds.index(("step_completed", "first")) + 1
    assert events[opened]["created_at"] == events[opened - 1]["created_at"]
    stats = sim.stats()
    assert stats.duplicate_starts == 0
    assert stats.runs_started == 2
    assert execution["steps"][1]["answer"] == "two: one: hand over"
    thread = execution["steps"][1]["suna_thread_id"]
    messages = sim.core.threads[thread].messages  # (the run is over: nothing changes them)
    assert sum(1 for m in messages if m["type"] == "user") == 1  # the prompt, added once


@pytest.mark.sim(agents=SLOW_AGENTS)
async def test_the_last_outcome_writes_nothing_once_the_lease_is_gone(
    api: ApiClient, engine: Engine, sim: SunaSimulator, db: Any
) -> None:
    """The statement that records the last step also completes the execution, so it writes
    only while the lease is held: here another owner took it meanwhile. Once that owner's
    lease expires, the execution is taken over and completed once."""
    one_step = {"type": "sequential", "agents": [
        {"agent_id": "first", "role": "first", "input": {"source": "initial_prompt"}}]}  # fmt: skip
    team_id = await create_team(api, one_step)
    execution_id = (await launch(api, team_id, "stolen"))["execution_id"]
    async with engine.running(heartbeat_s=30.0):  # no heartbeat notices the theft first
        await _wait_until(db, "SELECT count(*) = 1 FROM step_runs WHERE suna_run_id IS NOT NULL")
        await db.execute("""UPDATE executions SET lease_owner = 'thief',
                                   lease_expires_at = now() + interval '1 second'""")
        await _all_final(db)
    execution = await get_json(api, f"/v1/executions/{execution_id}")
    assert execution["status"] == "completed", execution
    events = await db.fetch(
        "SELECT seq, type, created_at FROM execution_events WHERE execution_id = $1 ORDER BY seq",
        execution_id,
    )
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["created_at"] == events[-2]["created_at"]  # one statement, one now()
    types = [e["type"] for e in events]
    for once in ("step_started", "usage_recorded", "step_output", "step_completed",
                 "execution_completed"):  # fmt: skip
        assert types.count(once) == 1, types
    assert types[-2:] == ["step_completed", "execution_completed"]
    assert sim.stats().runs_started == 1
    assert await db.fetchval("SELECT count(*) FROM usage_log") == 1


@pytest.mark.sim(agents=SLOW_AGENTS)
async def test_redis_flushed_mid_run(
    api: ApiClient, engine: Engine, sim: SunaSimulator, db: Any, redis: Any
) -> None:
    team_id = await create_team(api, TWO_STEPS)
    execution_id = (await launch(api, team_id, "survive"))["execution_id"]
    async with engine.running():
        await _wait_until(db, "SELECT count(*) >= 1 FROM step_runs WHERE suna_run_id IS NOT NULL")
        await redis.flushdb()
        await _all_final(db)
    execution = await get_json(api, f"/v1/executions/{execution_id}")
    assert execution["status"] == "completed"
    context = (await get_json(api, f"/v1/executions/{execution_id}/context"))["context"]
    assert context["agent_first_result"] == "one: survive"
    assert context["agent_second_result"] == "two: one: survive"
    await redis.flushdb()  # the live copy is gone again: the snapshot answers
    again = (await get_json(api, f"/v1/executions/{execution_id}/context"))["context"]
    assert again == context
    assert sim.stats().duplicate_starts == 0


@pytest.mark.slow
@pytest.mark.sim(agents=SLOW_AGENTS)
async def test_three_worker_processes_share_one_hundred_executions(
    api: ApiClient, engine: Engine, sim: SunaSimulator, db: Any, redis: Any
) -> None:
    workflow = {
        "type": "sequential",
        "agents": [{"agent_id": "quick", "role": "quick", "input": {"source": "initial_prompt"}}],
    }
    team_id = await create_team(api, workflow)
    # at most 40 at once each, and all three reading before the first launch, so that
    # no single worker can take every execution
    workers = [engine.worker_process("--concurrency", "40") for _ in range(3)]
    try:
        await _wait_for_consumers(redis, 3)
        for i in range(100):
            await launch(api, team_id, f"n{i}")
        await _all_final(db, timeout_s=120)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            await asyncio.to_thread(worker.wait, 30)
    assert await db.fetchval("SELECT count(*) FROM executions WHERE status = 'completed'") == 100
    started = await db.fetch(
        """SELECT execution_id, count(*) AS n, min(data->>'worker_id') AS worker
             FROM execution_events WHERE type = 'execution_started' GROUP BY execution_id"""
    )
    assert len(started) == 100 and all(r["n"] == 1 for r in started)
    assert len({r["worker"] for r in started}) >= 2, "the work should be shared"
    stats = sim.stats()
    assert stats.runs_started == 100
    assert stats.duplicate_starts == 0
