"""The engine on each Suna API flavour: named agents, one run per attempt, the prompt once,
exact usage; and what each flavour needs (a model in api-2025, optimistic take-overs)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from suna_sim import FLAVOURS, SunaSimulator
from tests.conftest import ApiClient
from tests.renum.conftest import Engine
from tests.renum.helpers import create_team, get_json, launch

TWO_STEPS = {"type": "sequential", "agents": [
    {"agent_id": "researcher", "role": "researcher", "input": {"source": "initial_prompt"}},
    {"agent_id": "writer", "role": "writer",
     "input": {"source": "agent_result", "agent_id": "researcher"}}]}  # fmt: skip
MODEL = "anthropic/claude-sonnet-4"


def _on(flavour: str) -> Any:
    return pytest.mark.sim(flavour=flavour)


async def _two_steps(api: ApiClient, engine: Engine, prompt: str) -> dict[str, Any]:
    execution_id = (await launch(api, await create_team(api, TWO_STEPS), prompt))["execution_id"]
    await engine.drain()
    return dict(await get_json(api, f"/v1/executions/{execution_id}"))


@pytest.mark.parametrize("flavour", [pytest.param(f, marks=_on(f)) for f in FLAVOURS])
async def test_a_team_runs_on_every_flavour(
    api: ApiClient, engine: Engine, sim: SunaSimulator, flavour: str
) -> None:
    engine.settings = engine.settings.model_copy(update={"suna_default_model": MODEL})
    execution = await _two_steps(api, engine, "the transistor")
    assert execution["status"] == "completed", execution
    researcher, writer = execution["steps"]
    assert "the transistor" in researcher["answer"] and writer["answer"].startswith("Final")
    stats = sim.stats()
    assert stats.runs_started == 2 and stats.duplicate_starts == 0
    assert stats.runs_by_agent == {"researcher": 1, "writer": 1}  # names resolved to UUIDs
    for step in execution["steps"]:
        run = sim.run(step["suna_run_id"])
        assert run.agent_id == sim.agent_id(step["step_id"]) and run.model == MODEL
        users = [m for m in sim.core.threads[run.thread_id].messages if m["type"] == "user"]
        assert len(users) == 1  # the prompt once, whether started with it or before it
    assert stats.requests.get("add_message", 0) == (2 if flavour == "api-2025" else 0)
    assert stats.requests.get("create_thread", 0) == (2 if flavour == "api-2025" else 0)
    assert execution["usage"]["input_tokens"] == stats.usage.input_tokens
    # a thread per attempt; where Renum names projects, one project (one sandbox) per execution
    assert stats.threads == 2 and stats.projects == (2 if flavour == "api-2025" else 1)
    assert len({sim.core.threads[s["suna_thread_id"]].project_id
                for s in execution["steps"]}) == stats.projects  # fmt: skip


@pytest.mark.parametrize("flavour", [pytest.param(f, marks=pytest.mark.sim(
    flavour=f, faults={"agents": {"researcher": {"fail_rate": 1.0}}}))
    for f in ("agent-start", "v1")])  # fmt: skip
async def test_retries_need_no_new_sandbox(
    api: ApiClient, engine: Engine, sim: SunaSimulator, flavour: str
) -> None:
    workflow = {"type": "sequential", "agents": [
        {"agent_id": "researcher", "role": "researcher", "input": {"source": "initial_prompt"},
         "retry": {"max_attempts": 3, "backoff_s": 0.01}}]}  # fmt: skip
    execution_id = (await launch(api, await create_team(api, workflow)))["execution_id"]
    await engine.drain()
    execution = await get_json(api, f"/v1/executions/{execution_id}")
    assert execution["status"] == "failed" and execution["steps"][0]["attempt"] == 3
    assert sim.stats().threads == 3 and sim.stats().projects == 1


@pytest.mark.sim(flavour="api-2025")
async def test_api_2025_without_a_model_says_why_the_run_failed(
    api: ApiClient, engine: Engine, sim: SunaSimulator
) -> None:
    execution = await _two_steps(api, engine, "x")
    assert execution["status"] == "failed"
    error = execution["steps"][0]["error"]
    assert error["code"] == "run_failed" and "NoneType" in error["message"]


async def test_an_unknown_agent_name_fails_the_step_without_retries(
    api: ApiClient, engine: Engine, sim: SunaSimulator
) -> None:
    workflow = {"type": "sequential", "agents": [
        {"agent_id": "ghost", "role": "ghost", "input": {"source": "initial_prompt"},
         "retry": {"max_attempts": 3, "backoff_s": 0.01}}]}  # fmt: skip
    team_id = await create_team(api, workflow, check_agents=False)  # saved unchecked
    execution_id = (await launch(api, team_id))["execution_id"]
    await engine.drain()
    execution = await get_json(api, f"/v1/executions/{execution_id}")
    step = execution["steps"][0]
    assert execution["status"] == "failed" and step["attempt"] == 1
    assert step["error"]["code"] == "suna_unknown_agent" and "'ghost'" in step["error"]["message"]
    assert sim.stats().runs_started == 0


async def test_a_step_can_name_its_agent_by_uuid(
    api: ApiClient, engine: Engine, sim: SunaSimulator
) -> None:
    workflow = {"type": "sequential", "agents": [
        {"agent_id": sim.agent_id("analyst"), "role": "analyst",
         "input": {"source": "initial_prompt"}}]}  # fmt: skip
    execution_id = (await launch(api, await create_team(api, workflow), "data"))["execution_id"]
    await engine.drain()
    execution = await get_json(api, f"/v1/executions/{execution_id}")
    assert execution["status"] == "completed", execution
    assert sim.stats().runs_by_agent == {"analyst": 1}
    assert "list_agents" not in sim.stats().requests  # a UUID needs no lookup


async def _wait_until(db: Any, query: str, timeout_s: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await db.fetchval(query):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for: {query}")
        await asyncio.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize("flavour", [pytest.param(f, marks=_on(f)) for f in ("agent-start", "v1")])
async def test_worker_killed_while_its_optimistic_start_is_in_flight(
    api: ApiClient, engine: Engine, sim: SunaSimulator, db: Any, flavour: str
) -> None:
    """The attempt's thread id is recorded, its start never reached Suna: the survivor finds
    no such thread, starts under the same ids, and Suna sees one run and one prompt."""
    sim.set_faults({"routes": [{"kind": "latency", "route": "start_agent",
                                "latency_ms": 60_000}]})  # fmt: skip
    team_id = await create_team(api, {"type": "sequential", "agents": [TWO_STEPS["agents"][0]]})
    execution_id = (await launch(api, team_id, "hand over"))["execution_id"]
    victim = engine.worker_process()
    try:
        await _wait_until(db, "SELECT count(*) = 1 FROM step_runs WHERE suna_thread_id IS NOT NULL")
        await asyncio.sleep(0.3)  # the start is in flight, held by the fault
        victim.kill()
        await asyncio.to_thread(victim.wait)
    finally:
        if victim.poll() is None:
            victim.kill()
    sim.set_faults({})
    survivor = engine.worker_process()
    try:
        await _wait_until(db, "SELECT count(*) = 1 FROM executions WHERE status = 'completed'")
    finally:
        survivor.terminate()
        await asyncio.to_thread(survivor.wait, 30)
    execution = await get_json(api, f"/v1/executions/{execution_id}")
    step = execution["steps"][0]
    assert step["attempt"] == 1 and step["status"] == "completed"
    stats = sim.stats()
    assert stats.runs_started == 1 and stats.duplicate_starts == 0
    assert list(sim.core.threads) == [step["suna_thread_id"]]  # created under the recorded id
    messages = sim.core.threads[step["suna_thread_id"]].messages
    assert sum(1 for m in messages if m["type"] == "user") == 1


NO_ANSWER_AGENTS = {"agents": [
    {"agent_id": "mute", "answer": "never", "model": MODEL,
     "faults": {"fail_rate": 1.0, "failure_message": "provider said: invalid key {key}"}},
    {"agent_id": "terse", "answer": "", "model": MODEL}]}  # fmt: skip


@pytest.mark.parametrize("flavour", [pytest.param(f, marks=pytest.mark.sim(
    flavour=f, agents=NO_ANSWER_AGENTS)) for f in ("api-2025", "v1")])  # fmt: skip
async def test_no_answer_is_a_failure_that_says_why_and_keeps_keys_out(
    api: ApiClient, engine: Engine, sim: SunaSimulator, flavour: str
) -> None:
    """api-2025 ends a failed LLM call ``completed`` with no answer: a failed, retried
    attempt carrying Suna's stored error, with the user's key (echoed by the provider)
    scrubbed. v1 says ``failed`` itself. An empty but real answer completes."""
    canary = "sk-canary-noanswer-5f1e2d"
    async with api.http.put(api.url("/v1/keys/openai"), json={"value": canary},
                            headers=api.auth()) as resp:  # fmt: skip
        assert resp.status == 201, await resp.text()
    engine.settings = engine.settings.model_copy(  # forwarded, so a provider can echo it
        update={"suna_default_model": MODEL, "suna_forward_provider_keys": True})
    workflow = {"type": "parallel", "agents": [
        {"agent_id": "mute", "role": "mute", "input": {"source": "initial_prompt"},
         "retry": {"max_attempts": 2, "backoff_s": 0.01}, "on_failure": "continue"},
        {"agent_id": "terse", "role": "terse", "input": {"source": "initial_prompt"}}]}
    execution_id = (await launch(api, await create_team(api, workflow)))["execution_id"]
    await engine.drain()
    execution = await get_json(api, f"/v1/executions/{execution_id}")
    steps = {s["step_id"]: s for s in execution["steps"]}
    mute, terse = steps["mute"], steps["terse"]
    assert mute["status"] == "failed" and mute["attempt"] == 2  # retried per its policy
    expected = "suna_no_answer" if flavour == "api-2025" else "run_failed"
    assert mute["error"]["code"] == expected
    assert "provider said: invalid key ***" in mute["error"]["message"]
    assert canary not in str(execution)
    assert terse["status"] == "completed" and terse["answer"] == ""


@pytest.mark.sim(run_row_delay_ms=60_000)
async def test_a_thread_that_exists_is_never_started_on_again(
    api: ApiClient, engine: Engine, sim: SunaSimulator
) -> None:
    """v1: the start's answer is lost and its run row is not written in time. Suna has the
    thread, so the start reached it: the attempt waits for the run and then fails, and no
    second run is started on that thread."""
    sim.set_faults({"routes": [{"kind": "drop", "route": "start_agent", "after": True,
                                "count": 1}]})  # fmt: skip
    workflow = {"type": "sequential", "agents": [
        {"agent_id": "analyst", "role": "analyst", "input": {"source": "initial_prompt"},
         "timeout_s": 4}]}  # fmt: skip
    execution_id = (await launch(api, await create_team(api, workflow)))["execution_id"]
    await engine.drain()
    execution = await get_json(api, f"/v1/executions/{execution_id}")
    step = execution["steps"][0]
    assert step["status"] == "failed" and "no run of it appeared" in step["error"]["message"]
    stats = sim.stats()
    assert stats.runs_started == 1 and stats.duplicate_starts == 0


@pytest.mark.sim(flavour="v1", shared_projects=False)
async def test_a_suna_that_refuses_shared_projects_gets_a_project_per_thread(
    api: ApiClient, engine: Engine, sim: SunaSimulator
) -> None:
    execution = await _two_steps(api, engine, "the transistor")
    assert execution["status"] == "completed", execution
    stats = sim.stats()
    assert stats.projects == 2 and stats.runs_started == 2 and stats.duplicate_starts == 0
