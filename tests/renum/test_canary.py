"""The canary: a distinctive key value goes through a whole execution and is then found in
the simulator's received headers and nowhere else — not in a log line, an event, an API
response, a metric, an exception's text, a Redis value or any column of any table."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest
import redis.asyncio as aioredis

from suna_sim import SunaSimulator
from tests.conftest import ApiClient
from tests.renum.conftest import Engine
from tests.renum.helpers import create_team, launch

WORKFLOW = {"type": "parallel", "agents": [
    {"agent_id": "researcher", "role": "researcher", "input": {"source": "initial_prompt"},
     "model": "openai/gpt-5-mini", "requires_keys": ["openai"]},
    {"agent_id": "analyst", "role": "analyst", "input": {"source": "initial_prompt"},
     "requires_keys": ["openai"]},
]}  # fmt: skip


#: The agents answer with what they were given: a provider echoing the key it refused.
ECHOING = {"agents": [
    {"agent_id": "researcher", "answer": "the provider said: invalid key {key}",
     "model": "openai/gpt-5-mini"},
    {"agent_id": "analyst", "answer": "Analysis: {prompt} (key {key})"}]}  # fmt: skip


class Responses:
    """Every API response body of the test, as text."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api
        self.texts: list[str] = []

    async def call(self, method: str, path: str, *, user: str = "alice",
                   json: Any = None) -> tuple[int, str]:  # fmt: skip
        async with self.api.http.request(method, self.api.url(path), json=json,
                                         headers=self.api.auth(user)) as resp:  # fmt: skip
            text = await resp.text()
            self.texts.append(f"{resp.status} {dict(resp.headers)} {text}")
            return resp.status, text


async def _every_column(db: Any) -> list[str]:
    """Every row of every table, as text (bytea shows as hex)."""
    tables = await db.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
    )
    texts: list[str] = []
    for table in tables:
        rows = await db.fetch(f'SELECT t::text AS row FROM "{table["tablename"]}" t')
        texts.extend(r["row"] for r in rows)
    assert any(t["tablename"] == "user_keys" for t in tables)
    return texts


async def _every_redis_value(redis: aioredis.Redis) -> list[str]:
    texts = []
    async for key in redis.scan_iter(count=500):
        kind = await redis.type(key)
        texts.append(key)
        if kind == "string":
            texts.append(str(await redis.get(key)))
        elif kind == "hash":
            texts.append(str(await redis.hgetall(key)))
        elif kind == "stream":
            texts.append(str(await redis.xrange(key)))
        elif kind == "list":
            texts.append(str(await redis.lrange(key, 0, -1)))
        elif kind in ("set", "zset"):
            texts.append(str(await redis.sscan(key) if kind == "set" else
                             await redis.zrange(key, 0, -1)))  # fmt: skip
    return texts


@pytest.mark.sim(agents=ECHOING)
@pytest.mark.parametrize("forward", [False, True], ids=["forwarding-off", "forwarding-on"])
async def test_the_canary_is_only_in_the_outbound_header(
    api: ApiClient, engine: Engine, sim: SunaSimulator, db: Any, redis: aioredis.Redis,
    caplog: pytest.LogCaptureFixture, forward: bool,
) -> None:  # fmt: skip
    """Off (the default, stock Suna reads no key): the canary never leaves the vault.
    On: it is in the start's header and nowhere else."""
    engine.settings = engine.settings.model_copy(update={"suna_forward_provider_keys": forward})
    caplog.set_level(logging.DEBUG)
    canary = f"sk-canary-{uuid.uuid4().hex}"
    forms = (canary, canary.encode().hex(), canary[4:-4])
    api_calls = Responses(api)

    team = await create_team(api, WORKFLOW)
    status, _ = await api_calls.call("PUT", "/v1/keys/openai", json={"value": canary})
    assert status == 201
    # the invalid forms of a write echo nothing of the value either
    await api_calls.call("PUT", "/v1/keys/openai", json={"value": canary + " x"})
    await api_calls.call("PUT", "/v1/keys/OpenAI", json={"value": canary})
    await api_calls.call("PUT", "/v1/keys/openai", json={"value": canary * 200})
    execution_id = (await launch(api, team, "find the canary"))["execution_id"]

    # bob gets a copy of alice's ciphertext: opening it as his fails, saying so without it
    await db.execute("""INSERT INTO user_keys (user_id, service, ciphertext, key_id, last4)
                        SELECT 'bob', service, ciphertext, key_id, last4 FROM user_keys
                         WHERE user_id = 'alice'""")  # fmt: skip
    bob_team = await create_team(api, WORKFLOW, user="bob")
    bob_execution = (await launch(api, bob_team, "steal it", user="bob"))["execution_id"]

    await engine.drain()

    for path in (f"/v1/executions/{execution_id}", f"/v1/executions/{execution_id}/context",
                 f"/v1/executions/{execution_id}/events", "/v1/executions", "/v1/keys",
                 f"/v1/teams/{team}", "/v1/usage", "/metrics"):  # fmt: skip
        await api_calls.call("GET", path)
    _, alice_view = await api_calls.call("GET", f"/v1/executions/{execution_id}")
    assert '"status":"completed"' in alice_view
    # the agents echoed what they were given: with forwarding on, the key, recorded as ***
    assert "the provider said: invalid key" in alice_view
    assert ("invalid key ***" in alice_view) == forward
    _, bob_view = await api_calls.call("GET", f"/v1/executions/{bob_execution}", user="bob")
    await api_calls.call("GET", f"/v1/executions/{bob_execution}/events", user="bob")
    if forward:  # opening alice's ciphertext as bob's fails, naming no value
        assert '"status":"failed"' in bob_view and "credential_error" in bob_view
    else:  # nothing is opened when nothing is sent
        assert '"status":"completed"' in bob_view

    # with forwarding on it did travel: every start of alice's steps carried it as
    # X-API-Key-openai; off, no start carried any key
    starts = [h for h in sim.stats().key_headers.values() if h]
    if forward:
        assert len(starts) == 2 and all(h == {"openai": canary} for h in starts)
    else:
        assert starts == []

    places = {
        "log": [caplog.text, *(str(r.__dict__) for r in caplog.records)],
        "api response": api_calls.texts,
        "database": await _every_column(db),
        "redis": await _every_redis_value(redis),
    }
    assert any("find the canary" in t for t in places["database"])  # the scan does see rows
    for place, texts in places.items():
        for text in texts:
            for form in forms:
                assert form not in text, f"the canary leaked into the {place}: {text[:300]}"
