"""The engine end to end: API → queue → worker → simulator → PostgreSQL, events, context."""

from __future__ import annotations

import uuid
from typing import Any

import dsl
from suna_sim import SunaSimulator
from tests.conftest import ApiClient
from tests.renum.conftest import Engine
from tests.renum.helpers import create_team, get_json, launch, read_sse

SEQUENTIAL = {
    "type": "sequential",
    "agents": [
        {"agent_id": "researcher", "role": "researcher", "input": {"source": "initial_prompt"}},
        {"agent_id": "analyst", "role": "analyst",
         "input": {"source": "agent_result", "agent_id": "researcher"}},
        {"agent_id": "writer", "role": "writer",
         "input": {"source": "combined", "sources": [
             {"type": "agent_result", "agent_id": "researcher"},
             {"type": "agent_result", "agent_id": "analyst"}]}},
    ],
}  # fmt: skip

ROUTER = {
    "type": "conditional",
    "agents": [
        {"agent_id": "classifier", "role": "classifier", "input": {"source": "initial_prompt"}},
        {"agent_id": "technical_support", "role": "technical",
         "input": {"source": "initial_prompt"},
         "conditions": [{"field": "agent_classifier_result.category", "operator": "equals",
                         "value": "technical"}]},
        {"agent_id": "billing_support", "role": "billing",
         "input": {"source": "initial_prompt"},
         "conditions": [{"field": "agent_classifier_result.category", "operator": "equals",
                         "value": "billing"}]},
    ],
}  # fmt: skip


async def test_sequential_team_runs_to_completion(
    api: ApiClient, engine: Engine, sim: SunaSimulator
) -> None:
    team_id = await create_team(api, SEQUENTIAL)
    launched = await launch(api, team_id, "the transistor")
    assert launched["status"] == "queued"
    execution_id = launched["execution_id"]
    await engine.drain()
    execution = await get_json(api, f"/v1/executions/{execution_id}")
    assert execution["status"] == "completed", execution
    steps = {s["step_id"]: s for s in execution["steps"]}
    assert [s["step_id"] for s in execution["steps"]] == ["researcher", "analyst", "writer"]
    assert all(s["status"] == "completed" and s["attempt"] == 1 for s in steps.values())
    assert "the transistor" in steps["researcher"]["answer"]
    assert steps["writer"]["answer"].startswith("Final report")
    assert all(s["suna_run_id"] and s["suna_thread_id"] for s in steps.values())
    stats = sim.stats()
    assert stats.runs_started == 3
    assert stats.duplicate_starts == 0
    assert execution["usage"]["agent_runs"] == 3
    assert execution["usage"]["input_tokens"] == stats.usage.input_tokens
    assert execution["usage"]["output_tokens"] == stats.usage.output_tokens
    context = await get_json(api, f"/v1/executions/{execution_id}/context")
    assert context["context"]["initial_prompt"] == "the transistor"
    assert set(context["context"]["results"]) == {"researcher", "analyst", "writer"}


async def test_conditional_routing_by_classifier_json(
    api: ApiClient, engine: Engine, sim: SunaSimulator
) -> None:
    team_id = await create_team(api, ROUTER)
    execution_id = (await launch(api, team_id, "My invoice is wrong"))["execution_id"]
    await engine.drain()
    execution = await get_json(api, f"/v1/executions/{execution_id}")
    assert execution["status"] == "completed"
    steps = {s["step_id"]: s for s in execution["steps"]}
    assert steps["classifier"]["output"] == {"category": "billing"}
    assert steps["billing_support"]["status"] == "completed"
    assert steps["technical_support"]["status"] == "skipped"
    assert sim.stats().runs_by_agent.get("technical_support", 0) == 0


async def test_events_replay_with_last_event_id(api: ApiClient, engine: Engine) -> None:
    team_id = await create_team(api, SEQUENTIAL)
    execution_id = (await launch(api, team_id, "x"))["execution_id"]
    await engine.drain()
    path = f"/v1/executions/{execution_id}/events"
    events = await read_sse(api, path)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "execution_queued"
    assert kinds[-1] == "execution_completed"
    assert kinds.count("step_completed") == 3
    assert kinds.count("usage_recorded") == 3
    ids = [e["id"] for e in events]
    assert ids == list(range(1, len(ids) + 1))
    replay = await read_sse(api, path, headers={"Last-Event-ID": str(ids[4])})
    assert [e["id"] for e in replay] == ids[5:]


async def test_idempotent_launch(api: ApiClient, engine: Engine, sim: SunaSimulator) -> None:
    team_id = await create_team(api, SEQUENTIAL)
    key = {"Idempotency-Key": "launch-1"}
    first = await launch(api, team_id, "same", headers=key)
    second = await launch(api, team_id, "same", headers=key)
    assert first["execution_id"] == second["execution_id"]
    async with api.http.post(
        api.url(f"/v1/teams/{team_id}/executions"),
        json={"initial_prompt": "different"},
        headers={**api.auth(), **key},
    ) as resp:
        assert resp.status == 409
    for other in ({"initial_prompt": "same", "metadata": {"n": 2}},  # same prompt, not the same
                  {"initial_prompt": "same", "budget_usd": "1"}):  # fmt: skip
        async with api.http.post(api.url(f"/v1/teams/{team_id}/executions"), json=other,
                                 headers={**api.auth(), **key}) as resp:  # fmt: skip
            assert resp.status == 409
    async with api.http.post(api.url(f"/v1/teams/{team_id}/executions"),
                             json={"initial_prompt": "same"},
                             headers={**api.auth(), "Idempotency-Key": ""}) as resp:  # fmt: skip
        assert resp.status == 422
    await engine.drain()
    assert sim.stats().runs_started == 3


async def test_other_users_get_404(api: ApiClient) -> None:
    team_id = await create_team(api, SEQUENTIAL)
    execution_id = (await launch(api, team_id, "x"))["execution_id"]
    for path in (
        f"/v1/teams/{team_id}",
        f"/v1/executions/{execution_id}",
        f"/v1/executions/{execution_id}/context",
        f"/v1/executions/{execution_id}/events",
    ):
        async with api.http.get(api.url(path), headers=api.auth("mallory")) as resp:
            assert resp.status == 404, path
            assert resp.content_type == "application/problem+json"


async def test_invalid_workflow_lists_every_problem(api: ApiClient) -> None:
    bad: dict[str, Any] = {"type": "sequential", "agents": [
        {"agent_id": "a", "input": {"source": "agent_result", "agent_id": "nobody"}},
        {"agent_id": "a", "bogus": 1}]}  # fmt: skip
    async with api.http.post(api.url("/v1/teams"), json={"name": "t", "workflow": bad},
                             headers=api.auth()) as resp:  # fmt: skip
        assert resp.status == 422
        body = await resp.json()
    assert len(body["errors"]) >= 2
    assert all(e["path"].startswith("/workflow/") for e in body["errors"])


PARALLEL = {
    "type": "parallel",
    "agents": [
        *({"id": f"branch{i}", "agent_id": "researcher", "role": f"branch {i}",
           "input": {"source": "initial_prompt"}} for i in range(6)),
        {"agent_id": "classifier", "role": "triage", "input": {"source": "initial_prompt"}},
    ],
}  # fmt: skip


async def test_parallel_steps_each_add_their_part_of_the_context(
    api: ApiClient, engine: Engine, db: Any, redis: Any
) -> None:
    """Seven steps finish at once: the snapshot and Redis hold every one of them."""
    team_id = await create_team(api, PARALLEL)
    execution_id = (await launch(api, team_id, "My invoice is wrong"))["execution_id"]
    await engine.drain()
    execution = await get_json(api, f"/v1/executions/{execution_id}")
    assert execution["status"] == "completed"
    plan = dsl.compile(dsl.load(PARALLEL))
    expected = dsl.build_context(plan, "My invoice is wrong", {
        s["step_id"]: dsl.parse_result(s["answer"]) for s in execution["steps"]})  # fmt: skip
    assert len(expected["results"]) == 7 and expected["texts"].keys() == {"classifier"}
    snapshot = await db.fetchval(
        "SELECT context FROM context_snapshots WHERE execution_id = $1", uuid.UUID(execution_id)
    )
    assert snapshot == expected
    fields = await redis.hgetall(f"renum:ctx:{execution_id}")
    assert {"initial_prompt", "agent_classifier_result", "results.branch0",
            "texts.classifier"} <= fields.keys()  # fmt: skip
    context = (await get_json(api, f"/v1/executions/{execution_id}/context"))["context"]
    assert context == expected
    # A hash without its initial prompt is not the whole context: restored from the snapshot.
    await redis.hdel(f"renum:ctx:{execution_id}", "initial_prompt", "results.branch3")
    context = (await get_json(api, f"/v1/executions/{execution_id}/context"))["context"]
    assert context == expected
    assert await redis.hget(f"renum:ctx:{execution_id}", "results.branch3") is not None
