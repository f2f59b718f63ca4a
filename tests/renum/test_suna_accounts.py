"""Agents checked against Suna when a team is written and frozen at launch; users' own Suna
accounts (PUT /v1/keys/suna) run their executions, the usage rows say so, the key leaks
nowhere."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest
import redis.asyncio as aioredis

from renum.settings import Settings
from renum.vault import put_key
from suna_sim import DEV_ACCOUNT_ID, SunaSimulator, agent_uuid
from tests.conftest import ApiClient
from tests.renum.conftest import Engine
from tests.renum.helpers import create_team, get_json, launch, read_sse
from tests.renum.test_canary import _every_column, _every_redis_value

OWN_ACCOUNT = "0a0a0a0a-1111-4222-8333-444455556666"
OWN_KEY = f"pk_alice:sk_{uuid.uuid4().hex}"
ONE_STEP = {"type": "sequential", "agents": [
    {"agent_id": "researcher", "role": "researcher", "input": {"source": "initial_prompt"}}]}
TWO_STEPS = {"type": "sequential", "agents": [
    {"agent_id": "researcher", "role": "researcher", "input": {"source": "initial_prompt"}},
    {"agent_id": "ghost", "role": "ghost", "input": {"source": "initial_prompt"}},
    {"id": "again", "agent_id": "ghost", "role": "again", "input": {"source": "initial_prompt"}},
]}  # fmt: skip


async def _post_team(api: ApiClient, workflow: dict[str, Any], query: str = "",
                     name: str = "team") -> tuple[int, Any, Any]:  # fmt: skip
    async with api.http.post(api.url(f"/v1/teams{query}"), headers=api.auth(),
                             json={"name": name, "workflow": workflow}) as resp:  # fmt: skip
        return resp.status, await resp.json(content_type=None), resp.headers


async def test_a_team_naming_agents_suna_lacks_is_refused_step_by_step(
    api: ApiClient, sim: SunaSimulator
) -> None:
    status, body, _ = await _post_team(api, TWO_STEPS)
    assert status == 422, body
    assert [e["path"] for e in body["errors"]] == ["/workflow/agents/1/agent_id",
                                                   "/workflow/agents/2/agent_id"]
    assert {e["code"] for e in body["errors"]} == {"unknown_agent"}
    assert "step 'ghost'" in body["errors"][0]["message"]
    assert "step 'again'" in body["errors"][1]["message"]
    # a UUID must be one of the account's agents too
    stranger = {"type": "sequential", "agents": [
        {"agent_id": str(uuid.uuid4()), "role": "x", "input": {"source": "initial_prompt"}}]}
    status, body, _ = await _post_team(api, stranger)
    assert status == 422 and body["errors"][0]["code"] == "unknown_agent"
    # two agents of the account named alike: the name is ambiguous
    sim.core.create_agent(DEV_ACCOUNT_ID, "researcher", "a second one")
    status, body, _ = await _post_team(api, ONE_STEP)
    assert status == 422 and body["errors"][0]["code"] == "ambiguous_agent"
    assert "UUID" in body["errors"][0]["message"]
    ok = {"type": "sequential", "agents": [
        {"agent_id": sim.agent_id("researcher"), "role": "r",
         "input": {"source": "initial_prompt"}}]}  # fmt: skip
    status, body, _ = await _post_team(api, ok)
    assert status == 201, body


async def test_replacing_a_team_checks_its_agents_too(api: ApiClient) -> None:
    team_id = await create_team(api, ONE_STEP)
    async with api.http.put(api.url(f"/v1/teams/{team_id}"), headers=api.auth(),
                            json={"name": "team", "workflow": TWO_STEPS}) as resp:  # fmt: skip
        assert resp.status == 422
        assert (await resp.json())["errors"][0]["code"] == "unknown_agent"


async def test_suna_down_refuses_the_check_unless_it_is_skipped(
    api: ApiClient, sim: SunaSimulator
) -> None:
    await sim.close()
    status, body, headers = await _post_team(api, ONE_STEP)
    assert status == 503 and body["code"] == "suna_unavailable"
    assert "check_agents=false" in body["detail"] and headers["Retry-After"] == "30"
    status, body, _ = await _post_team(api, ONE_STEP, "?check_agents=false")
    assert status == 201, body


async def test_a_launch_freezes_the_agents_it_runs(
    api: ApiClient, engine: Engine, sim: SunaSimulator
) -> None:
    team_id = await create_team(api, ONE_STEP)
    execution_id = (await launch(api, team_id))["execution_id"]
    # after the launch, a second agent takes the name: resolving it now would be ambiguous
    sim.core.create_agent(DEV_ACCOUNT_ID, "researcher", "an impostor")
    await engine.drain()
    execution = await get_json(api, f"/v1/executions/{execution_id}")
    assert execution["status"] == "completed", execution
    assert execution["agents"] == {"researcher": sim.agent_id("researcher")}
    assert execution["suna_account"] == "service"
    run = sim.run(execution["steps"][0]["suna_run_id"])
    assert run.agent_id == sim.agent_id("researcher")


async def _put_suna_key(api: ApiClient, value: str, user: str = "alice") -> tuple[int, Any]:
    async with api.http.put(api.url("/v1/keys/suna"), headers=api.auth(user),
                            json={"value": value}) as resp:  # fmt: skip
        return resp.status, await resp.json(content_type=None)


@pytest.mark.sim(api_keys={OWN_KEY: OWN_ACCOUNT})
async def test_a_users_own_suna_account_runs_their_executions(
    api: ApiClient, engine: Engine, sim: SunaSimulator, db: Any, redis: aioredis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG)
    status, body = await _put_suna_key(api, "sk-not-a-suna-key")
    assert status == 422 and body["errors"][0]["code"] == "invalid_suna_key"
    status, body = await _put_suna_key(api, "pk_alice:sk_refused_by_suna")
    assert status == 422 and "refused" in body["errors"][0]["message"]
    status, body = await _put_suna_key(api, OWN_KEY)
    assert status == 201, body

    mine = (await launch(api, await create_team(api, ONE_STEP)))["execution_id"]
    theirs = (await launch(api, await create_team(api, ONE_STEP, user="bob"),
                           user="bob"))["execution_id"]  # fmt: skip
    await engine.drain()

    execution = await get_json(api, f"/v1/executions/{mine}")
    assert execution["status"] == "completed", execution
    assert execution["suna_account"] == "user"
    # the user's account's own agent, started in the user's account
    assert execution["agents"] == {"researcher": agent_uuid(OWN_ACCOUNT, "researcher")}
    run = sim.run(execution["steps"][0]["suna_run_id"])
    assert run.account_id == OWN_ACCOUNT
    bobs = await get_json(api, f"/v1/executions/{theirs}", user="bob")
    assert bobs["status"] == "completed" and bobs["suna_account"] == "service"
    assert sim.run(bobs["steps"][0]["suna_run_id"]).account_id == DEV_ACCOUNT_ID

    rows = {r["user_id"]: r for r in await db.fetch(
        "SELECT user_id, suna_account, api_key_type FROM usage_log")}  # fmt: skip
    assert (rows["alice"]["suna_account"], rows["alice"]["api_key_type"]) == (
        "user", "user_suna_account")
    assert (rows["bob"]["suna_account"], rows["bob"]["api_key_type"]) == ("service", "platform")
    assert sim.stats().key_headers[run.id] == {}  # never sent as a provider key

    secret = OWN_KEY.partition(":")[2]
    texts = [caplog.text, *(str(r.__dict__) for r in caplog.records),
             *await _every_column(db), *await _every_redis_value(redis),
             str(await read_sse(api, f"/v1/executions/{mine}/events"))]
    assert not [t for t in texts if secret in t]


OTHER_KEY = f"pk_other:sk_{uuid.uuid4().hex}"


@pytest.mark.parametrize("change", ["deleted", "replaced"])
@pytest.mark.sim(api_keys={OWN_KEY: OWN_ACCOUNT, OTHER_KEY: DEV_ACCOUNT_ID})
async def test_an_execution_whose_suna_key_changed_is_not_moved_to_another_account(
    api: ApiClient, engine: Engine, sim: SunaSimulator, change: str
) -> None:
    assert (await _put_suna_key(api, OWN_KEY))[0] == 201
    execution_id = (await launch(api, await create_team(api, ONE_STEP)))["execution_id"]
    if change == "deleted":
        async with api.http.delete(api.url("/v1/keys/suna"), headers=api.auth()) as resp:
            assert resp.status == 204
    else:  # another account's key: its threads and agents are not this execution's
        assert (await _put_suna_key(api, OTHER_KEY))[0] == 200
    await engine.drain()
    execution = await get_json(api, f"/v1/executions/{execution_id}")
    assert execution["status"] == "failed"
    assert execution["error"]["code"] == "suna_key_missing"
    assert "PUT /v1/keys/suna" in execution["error"]["message"]
    assert execution["steps"][0]["status"] == "cancelled"
    assert sim.stats().runs_started == 0


@pytest.fixture
def info_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="renum.suna")
    return caplog


async def test_the_api_says_at_start_which_suna_it_calls_and_as_whom(
    info_logs: pytest.LogCaptureFixture, api: ApiClient, settings: Settings
) -> None:
    caplog = info_logs
    said = [r.getMessage() for r in caplog.get_records("setup") if r.name == "renum.suna"]
    assert any("speaks v1" in m and settings.suna_account_id in m
               and "SUNA_JWT_SECRET" in m for m in said), said  # fmt: skip


async def test_a_stored_suna_key_suna_refuses_is_a_422_when_a_team_is_checked(
    api: ApiClient, db: Any, settings: Settings
) -> None:
    await put_key(db, settings.key_ring, "alice", "suna", "pk_gone:sk_revoked_since")
    status, body, _ = await _post_team(api, ONE_STEP)
    assert status == 422 and body["errors"][0]["path"] == "/keys/suna"
    assert "PUT /v1/keys/suna" in body["errors"][0]["message"]
