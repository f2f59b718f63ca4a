"""Engine control paths: cancel, failure policies, timeouts with retries, Suna's run limit."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from suna_sim import SunaSimulator
from tests.conftest import ApiClient
from tests.renum.conftest import Engine
from tests.renum.helpers import create_team, get_json, launch, read_sse


def _seq(*agents: dict[str, Any], **options: Any) -> dict[str, Any]:
    return {"type": "sequential", "agents": list(agents), **options}


def _step(agent_id: str, source: str | None = None, **options: Any) -> dict[str, Any]:
    spec = ({"source": "agent_result", "agent_id": source} if source
            else {"source": "initial_prompt"})  # fmt: skip
    return {"agent_id": agent_id, "role": agent_id, "input": spec, **options}


async def _wait_for_run_ids(db: Any, execution_id: str, count: int = 1) -> None:
    for _ in range(400):
        found = await db.fetchval(
            "SELECT count(*) FROM step_runs WHERE execution_id = $1 AND suna_run_id IS NOT NULL",
            execution_id)  # fmt: skip
        if found >= count:
            return
        await asyncio.sleep(0.025)
    raise AssertionError("no Suna run was started")


async def test_cancel_mid_run_stops_suna_runs(
    api: ApiClient, engine: Engine, sim: SunaSimulator, db: Any
) -> None:
    sim.set_faults({"agents": {"researcher": {"hang_rate": 1.0}}})
    team_id = await create_team(api, _seq(_step("researcher"), _step("writer", "researcher")))
    execution_id = (await launch(api, team_id))["execution_id"]
    async with engine.running():
        await _wait_for_run_ids(db, execution_id)
        url = api.url(f"/v1/executions/{execution_id}/cancel")
        async with api.http.post(url, headers=api.auth()) as resp:
            assert resp.status == 202
            assert (await resp.json())["status"] == "cancelling"
        events = await read_sse(api, f"/v1/executions/{execution_id}/events")
    assert events[-1]["event"] == "execution_cancelled"
    execution = await get_json(api, f"/v1/executions/{execution_id}")
    assert execution["status"] == "cancelled"
    assert [s["status"] for s in execution["steps"]] == ["cancelled", "cancelled"]
    assert sim.stats().runs_by_status.get("stopped") == 1
    async with api.http.post(url, headers=api.auth()) as resp:  # idempotent
        assert resp.status == 200
        assert (await resp.json())["status"] == "cancelled"


async def test_cancel_queued_execution_is_immediate(api: ApiClient, sim: SunaSimulator) -> None:
    team_id = await create_team(api, _seq(_step("researcher")))
    execution_id = (await launch(api, team_id))["execution_id"]
    async with api.http.post(api.url(f"/v1/executions/{execution_id}/cancel"),
                             headers=api.auth()) as resp:  # fmt: skip
        assert resp.status == 200
        assert (await resp.json())["status"] == "cancelled"
    assert sim.stats().runs_started == 0


async def test_failure_fails_the_execution(
    api: ApiClient, engine: Engine, sim: SunaSimulator
) -> None:
    sim.set_faults({"agents": {"analyst": {"fail_rate": 1.0}}})
    workflow = _seq(_step("researcher"), _step("analyst", "researcher"),
                    _step("writer", "analyst"))  # fmt: skip
    execution_id = (await launch(api, await create_team(api, workflow)))["execution_id"]
    await engine.drain()
    execution = await get_json(api, f"/v1/executions/{execution_id}")
    assert execution["status"] == "failed"
    assert execution["error"]["steps"] == ["analyst"]
    statuses = {s["step_id"]: s["status"] for s in execution["steps"]}
    assert statuses == {"researcher": "completed", "analyst": "failed", "writer": "skipped"}
    assert sim.stats().runs_by_agent.get("writer", 0) == 0


async def test_failure_with_continue_skips_only_dependants(
    api: ApiClient, engine: Engine, sim: SunaSimulator
) -> None:
    sim.set_faults({"agents": {"analyst": {"fail_rate": 1.0}}})
    workflow = {"type": "parallel", "agents": [
        _step("analyst", on_failure="continue"), _step("researcher"),
        {**_step("writer", "analyst"), "id": "writer"}]}  # fmt: skip
    workflow["type"] = "dag"
    workflow["agents"][2]["depends_on"] = ["analyst"]
    execution_id = (await launch(api, await create_team(api, workflow)))["execution_id"]
    await engine.drain()
    execution = await get_json(api, f"/v1/executions/{execution_id}")
    assert execution["status"] == "completed"
    statuses = {s["step_id"]: s["status"] for s in execution["steps"]}
    assert statuses == {"analyst": "failed", "researcher": "completed", "writer": "skipped"}


@pytest.mark.sim(agents={"agents": [{"agent_id": "slow", "answer": "late", "latency_ms": 3000}]})
async def test_step_timeout_is_retried_then_fails(
    api: ApiClient, engine: Engine, sim: SunaSimulator
) -> None:
    step = _step("slow", timeout_s=0.3, retry={"max_attempts": 2, "backoff_s": 0.05})
    execution_id = (await launch(api, await create_team(api, _seq(step))))["execution_id"]
    await engine.drain()
    execution = await get_json(api, f"/v1/executions/{execution_id}")
    assert execution["status"] == "failed"
    (only,) = execution["steps"]
    assert only["attempt"] == 2
    assert only["error"]["code"] == "step_timeout"
    stats = sim.stats()
    assert stats.runs_started == 2
    assert stats.runs_by_status.get("stopped") == 2
    assert stats.duplicate_starts == 0


@pytest.mark.sim(
    max_parallel_runs=3,
    agents={
        "agents": [
            {"agent_id": f"a{i}", "answer": f"answer {i}", "latency_ms": 150} for i in range(6)
        ]
    },
)
async def test_parallel_run_limit_queues_instead_of_failing(
    api: ApiClient, engine: Engine, sim: SunaSimulator
) -> None:
    workflow = {"type": "parallel", "agents": [_step(f"a{i}") for i in range(6)]}
    execution_id = (await launch(api, await create_team(api, workflow)))["execution_id"]
    await engine.drain()
    execution = await get_json(api, f"/v1/executions/{execution_id}")
    assert execution["status"] == "completed"
    stats = sim.stats()
    assert stats.runs_started == 6
    assert stats.duplicate_starts == 0
    assert stats.requests.get("start_agent", 0) > 6  # some starts met the 429
    events = await read_sse(api, f"/v1/executions/{execution_id}/events")
    assert any(e["event"] == "step_waiting" for e in events)


@pytest.mark.slow
@pytest.mark.sim(agents={"agents": [{"agent_id": "steady", "answer": "fine", "latency_ms": 600}]})
async def test_a_completed_run_whose_answer_cannot_be_read_fails_the_step(
    api: ApiClient, engine: Engine, sim: SunaSimulator, db: Any
) -> None:
    """Suna keeps failing the messages route after the run: the step fails, retryable and
    saying why, instead of completing with an empty answer. The run cost tokens all the
    same: once Suna answers again, a worker records its usage, once."""
    team_id = await create_team(api, _seq(_step("steady")))
    execution_id = (await launch(api, team_id))["execution_id"]
    async with engine.running(usage_retry_s=0.2):
        await _wait_for_run_ids(db, execution_id)
        sim.set_faults({"routes": [
            {"kind": "error", "route": "get_messages", "status": 503, "count": 1000}]})  # fmt: skip
        events = await read_sse(api, f"/v1/executions/{execution_id}/events")
    assert events[-1]["event"] == "execution_failed", events[-3:]
    assert not any(e["event"] == "step_output" for e in events)
    failed = next(e for e in events if e["event"] == "step_failed")
    assert failed["data"]["data"]["error"]["code"] == "suna_output_unavailable"
    row = await db.fetchrow("SELECT * FROM step_runs WHERE execution_id = $1", execution_id)
    assert row["status"] == "failed" and row["answer"] is None
    assert row["error"]["retryable"] is True
    assert sim.stats().runs_started == 1
    assert row["usage_pending"] and row["suna_run_id"]
    assert await db.fetchval("SELECT count(*) FROM usage_log") == 0
    sim.set_faults({})  # Suna answers again
    async with engine.running(usage_retry_s=0.2):
        for _ in range(600):
            if await db.fetchval("SELECT count(*) FROM usage_log"):
                break
            await asyncio.sleep(0.05)
    recorded = await db.fetch("SELECT * FROM usage_log")
    stats = sim.stats()
    assert [r["suna_run_id"] for r in recorded] == [row["suna_run_id"]]
    assert recorded[0]["input_tokens"] == stats.usage.input_tokens > 0
    assert recorded[0]["output_tokens"] == stats.usage.output_tokens
    assert recorded[0]["execution_id"] == row["execution_id"]
    assert not await db.fetchval("SELECT usage_pending FROM step_runs")
    usage = (await get_json(api, f"/v1/executions/{execution_id}"))["usage"]
    assert usage["agent_runs"] == 1 and usage["input_tokens"] == stats.usage.input_tokens
    last = await db.fetchval("SELECT type FROM execution_events ORDER BY seq DESC LIMIT 1")
    assert last == "execution_failed"  # the stream had ended: no event after it


@pytest.mark.slow
@pytest.mark.sim(agents={"agents": [{"agent_id": "steady", "answer": "fine", "latency_ms": 1500}]})
async def test_breaker_opening_mid_wait_is_waited_out(
    api: ApiClient, engine: Engine, sim: SunaSimulator, db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Suna fails every wait call until the client's breaker opens (SUNA_BREAKER_*): the
    step waits the open breaker out and completes, and nothing is started twice."""
    engine.settings = engine.settings.model_copy(
        update={"suna_breaker_failures": 2, "suna_breaker_cooldown_s": 0.3}
    )
    team_id = await create_team(api, _seq(_step("steady")))
    execution_id = (await launch(api, team_id))["execution_id"]
    async with engine.running():
        await _wait_for_run_ids(db, execution_id)
        sim.set_faults({"routes": [
            {"kind": "error", "route": "stream", "status": 503, "count": 8},
            {"kind": "error", "route": "get_run", "status": 503, "count": 8}]})  # fmt: skip
        events = await read_sse(api, f"/v1/executions/{execution_id}/events")
    assert events[-1]["event"] == "execution_completed", events[-3:]
    assert any("circuit opened" in r.getMessage() for r in caplog.records)
    stats = sim.stats()
    assert stats.faults_injected.get("error", 0) >= 4
    assert stats.runs_started == 1 and stats.duplicate_starts == 0


@pytest.mark.slow
@pytest.mark.sim(agents={"agents": [{"agent_id": "steady", "answer": "fine", "latency_ms": 800}]})
async def test_dropped_streams_while_waiting_are_ridden_out(
    api: ApiClient, engine: Engine, sim: SunaSimulator, db: Any
) -> None:
    """Suna drops the stream and the status route repeatedly while a step waits: the step
    still completes, and nothing is started twice."""
    team_id = await create_team(api, _seq(_step("steady")))
    execution_id = (await launch(api, team_id))["execution_id"]
    async with engine.running():
        await _wait_for_run_ids(db, execution_id)
        sim.set_faults({"routes": [
            {"kind": "drop", "route": "stream", "count": 6},
            {"kind": "drop", "route": "get_run", "count": 6}]})  # fmt: skip
        events = await read_sse(api, f"/v1/executions/{execution_id}/events")
    assert events[-1]["event"] == "execution_completed", events[-3:]
    stats = sim.stats()
    assert stats.faults_injected.get("drop", 0) >= 6
    assert stats.runs_started == 1 and stats.duplicate_starts == 0
