"""One tenant cannot stall the others: parked waits, per-user windows, rate limits, quotas."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from renum.settings import Settings
from tests.conftest import ApiClient
from tests.renum.conftest import Engine
from tests.renum.helpers import create_team, get_json, launch
from tests.renum.test_keys_engine import put_key_api, wait_status

AGENTS = {"agents": [
    {"agent_id": "worker", "answer": "done", "latency_ms": [150, 150]},
    {"agent_id": "quick", "answer": "ok", "latency_ms": [5, 10]},
]}  # fmt: skip
NEEDS_KEY = {"type": "sequential", "agents": [
    {"agent_id": "quick", "role": "uses github", "requires_keys": ["github"]}]}  # fmt: skip
ONE_SLOW = {"type": "sequential", "agents": [{"agent_id": "worker", "role": "works"}]}
ONE_QUICK = {"type": "sequential", "agents": [{"agent_id": "quick", "role": "answers"}]}

pytestmark = pytest.mark.sim(agents=AGENTS)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Small windows and quotas, so that a test can reach them."""
    return settings.model_copy(update={"user_concurrency": 2, "credential_wait_s": 120.0})


async def post_launch(api: ApiClient, team: str, user: str = "alice", prompt: str = "go",
                      **body: Any) -> tuple[int, dict[str, Any], dict[str, str]]:  # fmt: skip
    """POST a launch; (status, body, headers), whatever the status."""
    async with api.http.post(api.url(f"/v1/teams/{team}/executions"),
                             json={"initial_prompt": prompt, **body},
                             headers=api.auth(user)) as resp:  # fmt: skip
        return resp.status, await resp.json(), dict(resp.headers)


async def test_executions_waiting_for_keys_park_and_hold_no_slot(
    api: ApiClient, engine: Engine, db: Any
) -> None:
    """More waiting executions than the worker has slots: another user's still runs."""
    waiting_team = await create_team(api, NEEDS_KEY)
    quick_team = await create_team(api, ONE_QUICK, user="bob")
    # (alice's window is 2: her executions park in turn and let the next ones in)
    waiting = [(await launch(api, waiting_team))["execution_id"] for _ in range(5)]
    async with engine.running(concurrency=2):
        for execution_id in waiting:
            await wait_status(api, execution_id, {"waiting_for_credentials"}, timeout_s=20)
        rows = await db.fetch("SELECT lease_owner, dispatched, parked_until > now() AS parked "
                              "FROM executions WHERE id = ANY($1::uuid[])", waiting)  # fmt: skip
        assert all(r["lease_owner"] is None and not r["dispatched"] and r["parked"]
                   for r in rows), rows  # fmt: skip
        started = time.monotonic()
        other = (await launch(api, quick_team, user="bob"))["execution_id"]
        while (status := (await get_json(api, f"/v1/executions/{other}", user="bob"))["status"]
               ) not in ("completed", "failed"):  # fmt: skip
            assert time.monotonic() - started < 10
            await asyncio.sleep(0.05)
        assert status == "completed" and time.monotonic() - started < 5
        await put_key_api(api, "github", "ghp_alice_3333333333333")
        for execution_id in waiting:
            done = await wait_status(api, execution_id, {"completed", "failed"}, timeout_s=20)
            assert done["status"] == "completed", done
    types = [r["type"] for r in await db.fetch(
        "SELECT type FROM execution_events WHERE execution_id = $1 ORDER BY seq", waiting[0])]
    assert types.count("credential_request") == 1  # asked once, across the park
    assert types.index("credential_request") < types.index("credentials_provided")


async def test_a_parked_execution_can_be_cancelled(api: ApiClient, engine: Engine) -> None:
    team = await create_team(api, NEEDS_KEY)
    execution_id = (await launch(api, team))["execution_id"]
    async with engine.running():
        await wait_status(api, execution_id, {"waiting_for_credentials"})
        async with api.http.post(api.url(f"/v1/executions/{execution_id}/cancel"),
                                 headers=api.auth()) as resp:  # fmt: skip
            assert resp.status in (200, 202)
        done = await wait_status(api, execution_id, {"cancelled"}, timeout_s=5)
    assert {s["status"] for s in done["steps"]} == {"cancelled"}


async def test_one_users_backlog_does_not_delay_another_users_launch(
    api: ApiClient, engine: Engine, db: Any
) -> None:
    """Alice launches 12, then Bob 1: Bob's starts among Alice's first, not after them."""
    alice = await create_team(api, ONE_SLOW)
    bob = await create_team(api, ONE_SLOW, user="bob")
    flood = [await launch(api, alice) for _ in range(12)]
    assert [a["dispatch"] for a in flood] == ["queued"] * 2 + ["waiting_turn"] * 10
    one = (await launch(api, bob, user="bob"))["execution_id"]
    await engine.drain(concurrency=4)
    rows = await db.fetch("SELECT id::text, user_id, status, started_at FROM executions "
                          "ORDER BY started_at")  # fmt: skip
    assert {r["status"] for r in rows} == {"completed"}
    order = [r["id"] for r in rows]
    assert order.index(one) <= 3, [r["user_id"] for r in rows]
    # never more than her window of Alice's at once
    spans = [(r["started_at"], f) for r in rows if r["user_id"] == "alice"
             for f in [await db.fetchval("SELECT finished_at FROM executions WHERE id = $1::uuid",
                                         r["id"])]]  # fmt: skip
    for start, _ in spans:
        assert sum(1 for s, f in spans if s <= start < f) <= 2


async def test_unfinished_executions_per_user_are_capped(
    api: ApiClient, settings: Settings
) -> None:
    capped = settings.model_copy(update={"user_queued_max": 3})
    from renum.app import create_app
    from tests.conftest import serve_app

    server, task, base_url = await serve_app(create_app(capped))
    try:
        local = ApiClient(base_url, api.http)
        team = await create_team(local, ONE_QUICK)
        for n in range(3):
            status, _, _ = await post_launch(local, team, prompt=f"p{n}")
            assert status == 202
        status, body, headers = await post_launch(local, team, prompt="one too many")
        assert status == 429 and body["code"] == "too_many_unfinished"
        assert "RENUM_USER_QUEUED_MAX" in body["detail"] and int(headers["Retry-After"]) >= 1
        status, _, _ = await post_launch(local, await create_team(local, ONE_QUICK, user="bob"),
                                         user="bob")  # fmt: skip
        assert status == 202  # another user is not held by alice's quota
    finally:
        server.should_exit = True
        await task


async def test_launches_are_rate_limited_per_user(api: ApiClient, settings: Settings) -> None:
    limited = settings.model_copy(update={"launch_burst": 3, "launch_rate_per_s": 0.5})
    from renum.app import create_app
    from tests.conftest import serve_app

    server, task, base_url = await serve_app(create_app(limited))
    try:
        local = ApiClient(base_url, api.http)
        team = await create_team(local, ONE_QUICK)
        statuses = [(await post_launch(local, team, prompt=f"p{n}"))[0] for n in range(3)]
        assert statuses == [202, 202, 202]
        status, body, headers = await post_launch(local, team, prompt="a fourth at once")
        assert status == 429 and body["code"] == "launch_rate_limited"
        assert 1 <= int(headers["Retry-After"]) <= 2
        other = await create_team(local, ONE_QUICK, user="bob")
        assert (await post_launch(local, other, user="bob"))[0] == 202
        await asyncio.sleep(2.1)  # one token back at 0.5 per second
        assert (await post_launch(local, team, prompt="later"))[0] == 202
    finally:
        server.should_exit = True
        await task


async def test_prompt_and_metadata_sizes_follow_the_settings(
    api: ApiClient, settings: Settings
) -> None:
    small = settings.model_copy(update={"max_prompt_chars": 100, "max_metadata_bytes": 64})
    from renum.app import create_app
    from tests.conftest import serve_app

    server, task, base_url = await serve_app(create_app(small))
    try:
        local = ApiClient(base_url, api.http)
        team = await create_team(local, ONE_QUICK)
        status, body, _ = await post_launch(local, team, prompt="x" * 101,
                                            metadata={"note": "y" * 100})  # fmt: skip
        assert status == 422
        assert {e["path"] for e in body["errors"]} == {"/body/initial_prompt", "/body/metadata"}
        assert all(e["code"] == "too_large" for e in body["errors"])
        assert "RENUM_MAX_PROMPT_CHARS" in body["errors"][0]["message"]
        assert (await post_launch(local, team, prompt="x" * 100))[0] == 202
    finally:
        server.should_exit = True
        await task


async def test_stored_key_wakes_a_parked_execution_without_the_notice(
    api: ApiClient, engine: Engine, db: Any, settings: Settings
) -> None:
    """A key written behind the API's back (no notice, no wake-up): the sweeper sees it."""
    from renum.vault import put_key

    team = await create_team(api, NEEDS_KEY)
    execution_id = (await launch(api, team))["execution_id"]
    async with engine.running():
        await wait_status(api, execution_id, {"waiting_for_credentials"})
        for _ in range(100):
            if await db.fetchval("SELECT NOT dispatched FROM executions WHERE id = $1",
                                 execution_id):  # fmt: skip
                break
            await asyncio.sleep(0.05)
        await put_key(db, settings.key_ring, "alice", "github", "ghp_alice_4444444444444")
        done = await wait_status(api, execution_id, {"completed", "failed"}, timeout_s=10)
    assert done["status"] == "completed"
    assert (await get_json(api, f"/v1/executions/{execution_id}"))["status"] == "completed"


async def test_retention_purges_what_a_finished_execution_stored_and_keeps_its_usage(
    api: ApiClient, engine: Engine, db: Any, redis: Any
) -> None:
    team = await create_team(api, ONE_QUICK)
    old = (await launch(api, team, "x" * 5000))["execution_id"]
    recent = (await launch(api, team, "kept"))["execution_id"]
    await engine.drain()
    await db.execute("UPDATE executions SET finished_at = now() - interval '31 days' "
                     "WHERE id = $1", old)  # fmt: skip
    async with engine.running():  # (its sweeper runs every 0.5 s; retention is 30 days)
        for _ in range(100):
            if await db.fetchval("SELECT purged_at FROM executions WHERE id = $1", old):
                break
            await asyncio.sleep(0.05)
    gone = await get_json(api, f"/v1/executions/{old}")
    assert gone["status"] == "completed" and gone["initial_prompt"] == ""
    assert gone["steps"][0]["status"] == "completed" and gone["steps"][0]["answer"] is None
    assert gone["usage"]["agent_runs"] == 1  # billing keeps every run
    assert not await db.fetchval("SELECT count(*) FROM execution_events WHERE execution_id = $1",
                                 old)  # fmt: skip
    assert not await db.fetchval("SELECT count(*) FROM context_snapshots WHERE execution_id = $1",
                                 old)  # fmt: skip
    assert not await redis.exists(f"renum:ctx:{old}", f"renum:events:{old}")
    kept = await get_json(api, f"/v1/executions/{recent}")
    assert kept["initial_prompt"] == "kept" and kept["steps"][0]["answer"] == "ok"
