"""Users' keys in the engine: forwarded on each start, usage says whose key; credentials
asked at run time (wait, resume on PUT via pub/sub or heartbeat, give up)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from renum.settings import Settings
from renum.vault import put_key
from suna_sim import SunaSimulator
from tests.conftest import ApiClient
from tests.renum.conftest import Engine
from tests.renum.helpers import create_team, get_json, launch

TWO_STEPS = {"type": "sequential", "agents": [
    {"agent_id": "researcher", "role": "researcher", "input": {"source": "initial_prompt"},
     "model": "openai/gpt-5-mini"},
    {"agent_id": "writer", "role": "writer",
     "input": {"source": "agent_result", "agent_id": "researcher"}},
]}  # fmt: skip
NEEDS_GITHUB = {"type": "sequential", "agents": [
    {"agent_id": "researcher", "role": "researcher", "input": {"source": "initial_prompt"}},
    {"agent_id": "writer", "role": "writer", "requires_keys": ["github"],
     "input": {"source": "agent_result", "agent_id": "researcher"}},
]}  # fmt: skip


async def put_key_api(api: ApiClient, service: str, value: str, user: str = "alice") -> None:
    """PUT /v1/keys/{service} as ``user``."""
    async with api.http.put(api.url(f"/v1/keys/{service}"), json={"value": value},
                            headers=api.auth(user)) as resp:  # fmt: skip
        assert resp.status in (200, 201), await resp.text()


async def wait_status(api: ApiClient, execution_id: str, wanted: set[str],
                      timeout_s: float = 15.0) -> dict[str, Any]:  # fmt: skip
    """Poll the execution until its status is one of ``wanted``."""
    deadline = time.monotonic() + timeout_s
    while True:
        execution: dict[str, Any] = await get_json(api, f"/v1/executions/{execution_id}")
        if execution["status"] in wanted:
            return execution
        assert time.monotonic() < deadline, execution
        await asyncio.sleep(0.05)


async def event_types(db: Any, execution_id: str) -> list[tuple[str, dict[str, Any]]]:
    """(type, data) of every event of an execution, in order."""
    rows = await db.fetch(
        "SELECT type, data FROM execution_events WHERE execution_id = $1 ORDER BY seq",
        execution_id,
    )
    return [(r["type"], r["data"]) for r in rows]


def forwarding(engine: Engine) -> Engine:
    """The engine with SUNA_FORWARD_PROVIDER_KEYS on."""
    engine.settings = engine.settings.model_copy(update={"suna_forward_provider_keys": True})
    return engine


async def test_keys_stay_in_the_vault_unless_forwarding_is_on(
    api: ApiClient, engine: Engine, sim: SunaSimulator, db: Any
) -> None:
    """Stock Suna reads no provider key: by default none is sent, and no usage row says
    the user's key paid."""
    await put_key_api(api, "openai", "sk-alice-openai-000000000")
    execution = (await launch(api, await create_team(api, TWO_STEPS)))["execution_id"]
    await engine.drain()
    assert (await get_json(api, f"/v1/executions/{execution}"))["status"] == "completed"
    assert all(h == {} for h in sim.stats().key_headers.values())
    rows = await db.fetch("SELECT provider, api_key_type FROM usage_log")
    assert len(rows) == 2 and {r["api_key_type"] for r in rows} == {"platform"}


async def test_a_value_that_is_not_a_key_does_not_say_the_user_paid(
    api: ApiClient, engine: Engine, sim: SunaSimulator, db: Any
) -> None:
    await put_key_api(api, "openai", "none")
    execution = (await launch(api, await create_team(api, TWO_STEPS)))["execution_id"]
    await forwarding(engine).drain()
    assert (await get_json(api, f"/v1/executions/{execution}"))["status"] == "completed"
    assert {"openai": "none"} in sim.stats().key_headers.values()  # sent, as asked
    rows = await db.fetch("SELECT api_key_type FROM usage_log")
    assert {r["api_key_type"] for r in rows} == {"platform"}


async def test_keys_are_forwarded_and_usage_says_whose(
    api: ApiClient, engine: Engine, sim: SunaSimulator, db: Any
) -> None:
    forwarding(engine)
    await put_key_api(api, "openai", "sk-alice-openai-000000000")
    await put_key_api(api, "github", "ghp_alice_0000000000000")
    alice_team = await create_team(api, TWO_STEPS)
    bob_team = await create_team(api, TWO_STEPS, user="bob")
    alice = (await launch(api, alice_team))["execution_id"]
    bob = (await launch(api, bob_team, user="bob"))["execution_id"]
    await engine.drain()
    assert (await get_json(api, f"/v1/executions/{alice}"))["status"] == "completed"
    assert (await get_json(api, f"/v1/executions/{bob}", user="bob"))["status"] == "completed"

    runs = await db.fetch("SELECT suna_run_id, execution_id FROM step_runs")
    headers = sim.stats().key_headers
    for run in runs:
        sent = headers[run["suna_run_id"]]
        if str(run["execution_id"]) == alice:
            assert sent == {"openai": "sk-alice-openai-000000000",
                            "github": "ghp_alice_0000000000000"}  # fmt: skip
        else:
            assert sent == {}
    usage = await db.fetch("SELECT user_id, provider, api_key_type FROM usage_log")
    assert len(usage) == 4
    assert {r["provider"] for r in usage} == {"openai", "anthropic"}
    for row in usage:  # alice has an openai key, not an anthropic one; bob has none
        mine = row["user_id"] == "alice" and row["provider"] == "openai"
        assert row["api_key_type"] == ("forwarded" if mine else "platform"), dict(row)


async def test_missing_key_waits_then_resumes_on_put_via_pubsub(
    api: ApiClient, engine: Engine, sim: SunaSimulator, db: Any
) -> None:
    forwarding(engine)
    team = await create_team(api, NEEDS_GITHUB)
    execution_id = (await launch(api, team))["execution_id"]
    # heartbeats far apart: only the pub/sub notice can resume it within seconds
    async with engine.running(heartbeat_s=30.0, lease_ttl_s=120.0):
        waiting = await wait_status(api, execution_id, {"waiting_for_credentials"})
        steps = {s["step_id"]: s["status"] for s in waiting["steps"]}
        assert steps == {"researcher": "completed", "writer": "pending"}
        events = await event_types(db, execution_id)
        requests = [d for t, d in events if t == "credential_request"]
        assert len(requests) == 1
        assert requests[0]["service"] == "github" and requests[0]["step_id"] == "writer"
        assert "PUT /v1/keys/github" in requests[0]["reason"]
        await asyncio.sleep(0.3)  # still waiting: nothing polls it into running
        assert (await get_json(api, f"/v1/executions/{execution_id}"))["status"] == (
            "waiting_for_credentials"
        )
        put_at = time.monotonic()
        await put_key_api(api, "github", "ghp_alice_1111111111111")
        done = await wait_status(api, execution_id, {"completed", "failed"}, timeout_s=5)
        assert time.monotonic() - put_at < 5
    assert done["status"] == "completed"
    types = [t for t, _ in await event_types(db, execution_id)]
    assert types.index("credential_request") < types.index("credentials_provided")
    writer_run = next(s["suna_run_id"] for s in done["steps"] if s["step_id"] == "writer")
    assert sim.stats().key_headers[writer_run] == {"github": "ghp_alice_1111111111111"}


async def test_a_lost_notice_is_covered_by_the_heartbeat(
    api: ApiClient, engine: Engine, db: Any, settings: Settings
) -> None:
    team = await create_team(api, NEEDS_GITHUB)
    execution_id = (await launch(api, team))["execution_id"]
    async with engine.running(heartbeat_s=0.5):
        await wait_status(api, execution_id, {"waiting_for_credentials"})
        # written behind the API's back: no pub/sub notice at all
        await put_key(db, settings.key_ring, "alice", "github", "ghp_alice_2222222222222")
        done = await wait_status(api, execution_id, {"completed", "failed"}, timeout_s=5)
    assert done["status"] == "completed"


async def test_waiting_gives_up_after_the_configured_time(
    api: ApiClient, settings: Settings, db: Any
) -> None:
    engine = Engine(settings.model_copy(update={"credential_wait_s": 1.0}))
    team = await create_team(api, NEEDS_GITHUB)
    execution_id = (await launch(api, team))["execution_id"]
    started = time.monotonic()
    await engine.drain()
    assert time.monotonic() - started < 10
    execution = await get_json(api, f"/v1/executions/{execution_id}")
    assert execution["status"] == "failed"
    assert execution["error"]["code"] == "credentials_timeout"
    assert execution["error"]["services"] == ["github"]
    assert "github" in execution["error"]["message"]
    writer = next(s for s in execution["steps"] if s["step_id"] == "writer")
    assert writer["status"] == "failed" and writer["error"]["code"] == "credentials_timeout"
    types = [t for t, _ in await event_types(db, execution_id)]
    assert "credential_request" in types and types[-1] == "execution_failed"


async def test_a_waiting_execution_is_taken_over_without_asking_twice(
    api: ApiClient, engine: Engine, db: Any
) -> None:
    team = await create_team(api, NEEDS_GITHUB)
    execution_id = (await launch(api, team))["execution_id"]
    async with engine.running():
        await wait_status(api, execution_id, {"waiting_for_credentials"})
    # that worker is gone (lease released); another one takes the execution over
    async with engine.running():
        await asyncio.sleep(3.0)  # taken over (claim or sweep) and waiting again
        assert (await get_json(api, f"/v1/executions/{execution_id}"))["status"] == (
            "waiting_for_credentials"
        )
        await put_key_api(api, "github", "ghp_alice_3333333333333")
        done = await wait_status(api, execution_id, {"completed", "failed"}, timeout_s=5)
    assert done["status"] == "completed"
    types = [t for t, _ in await event_types(db, execution_id)]
    assert types.count("credential_request") == 1
