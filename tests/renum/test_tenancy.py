"""Tenancy, proved on every route the app has (discovered from its OpenAPI document, so new
routes are covered too): anonymous callers get 401, another user (or an admin not asking
for her by name) gets 404 for alice's rows, never her data."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI

from renum.app import create_app
from renum.settings import Settings
from renum.vault import open_keys
from tests.conftest import ApiClient
from tests.renum.helpers import create_team, get_json, launch

#: Routes that answer without a token; anything else unauthenticated fails this test.
PUBLIC = {"/healthz", "/readyz", "/livez", "/metrics"}
WORKFLOW = {
    "type": "sequential",
    "agents": [
        {"agent_id": "researcher", "role": "researcher", "input": {"source": "initial_prompt"}}
    ],
}
#: Writes into the caller's own namespace (checked after the walk: alice's row is untouched).
OWN_WRITES = {("PUT", "/v1/keys/{service}")}
#: A valid body per body model, so a route is judged on tenancy, not on validation.
SAMPLE_BODIES: dict[str, Any] = {
    "TeamIn": {"name": "bobs-team", "workflow": WORKFLOW},
    "LaunchIn": {"initial_prompt": "hello"},
    "KeyIn": {"value": "sk-bob-0000000000000000"},
}  # fmt: skip


def _routes(app: FastAPI) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, OpenAPI operation) of every HTTP route."""
    return [(method.upper(), path, op) for path, item in app.openapi()["paths"].items()
            for method, op in item.items() if method not in ("head", "options")]  # fmt: skip


def _body(op: dict[str, Any]) -> tuple[Any, bool]:
    """(JSON body, whether it is a known valid sample) for an operation."""
    if "requestBody" not in op:
        return None, True
    schema = op["requestBody"]["content"].get("application/json", {}).get("schema", {})
    name = schema.get("$ref", "").rsplit("/", 1)[-1]
    if name in SAMPLE_BODIES:
        return SAMPLE_BODIES[name], True
    return {}, False


async def test_every_route_is_tenant_safe(api: ApiClient, settings: Settings, db: Any) -> None:
    team_id = await create_team(api, WORKFLOW, name="alices-team")
    execution_id = (await launch(api, team_id, "alice-secret-prompt"))["execution_id"]
    async with api.http.put(api.url("/v1/keys/github"), json={"value": "ghp_alice_secret_99"},
                            headers=api.auth("alice")) as resp:  # fmt: skip
        assert resp.status == 201
    params = {"team_id": team_id, "execution_id": execution_id, "service": "github",
              "user_id": "alice"}  # fmt: skip
    alice_data = ("alices-team", "alice-secret-prompt", "ghp_alice", '"alice"')

    app = create_app(settings)
    routes = _routes(app)
    assert len(routes) >= 10
    public = {path for _, path, op in routes if not op.get("security")}
    assert public <= PUBLIC, f"routes answering without a token: {public - PUBLIC}"

    checked = 0
    for method, path, op in routes:
        if path in PUBLIC:
            continue
        names = [p["name"] for p in op.get("parameters", []) if p["in"] == "path"]
        url = path
        for name in names:
            url = url.replace("{" + name + "}", params.get(name, str(uuid.uuid4())))
        body, sample = _body(op)
        where = f"{method} {path}"

        async with api.http.request(method, api.url(url), json=body) as resp:
            assert resp.status == 401, f"{where} without a token: {resp.status}"
            assert resp.content_type == "application/problem+json", where
        bad = {"Authorization": "Bearer not.a.token"}
        async with api.http.request(method, api.url(url), json=body, headers=bad) as resp:
            assert resp.status == 401, f"{where} with a bad token: {resp.status}"

        for caller, admin in (("bob", False), ("root", True)):
            if (method, path) in OWN_WRITES:
                break
            headers = api.auth(caller, admin=admin)
            async with api.http.request(method, api.url(url), json=body,
                                        headers=headers) as resp:  # fmt: skip
                text = await resp.text()
            assert resp.status < 500, f"{where} as {caller}: {resp.status} {text}"
            if admin and "user_id" in names:
                continue  # admin-only reports about a named user: the spec allows them
            refused = {404, 403} if not admin else {404}
            if names and set(names) <= set(params) and sample:
                assert resp.status in refused, f"{where} as {caller}: {resp.status} {text}"
            elif names:  # unknown ids or a body this test has no sample for
                assert resp.status in refused | {422}, f"{where} as {caller}: {resp.status}"
            # a 404 may echo the id asked for; a list must not hold alice's ids at all
            marks = alice_data if names else (*alice_data, team_id, execution_id)
            leaked = [m for m in marks if m in text]
            assert not leaked, f"{where} as {caller} shows alice's {leaked}: {text}"
        checked += 1
    assert checked >= 10

    # alice's rows are untouched and still hers
    assert (await get_json(api, f"/v1/teams/{team_id}"))["name"] == "alices-team"
    assert (await get_json(api, f"/v1/executions/{execution_id}"))["id"] == execution_id
    assert [k["service"] for k in await get_json(api, "/v1/keys")] == ["github"]
    async with api.http.put(api.url("/v1/keys/github"), json=SAMPLE_BODIES["KeyIn"],
                            headers=api.auth("bob")) as resp:  # fmt: skip
        assert resp.status == 201  # bob's own github key, not alice's
    assert await open_keys(db, settings.key_ring, "alice") == {"github": "ghp_alice_secret_99"}
    # the admin reaches alice's keys only by asking for them by name
    async with api.http.get(api.url("/v1/keys?user_id=alice"),
                            headers=api.auth("root", admin=True)) as resp:  # fmt: skip
        assert [k["service"] for k in await resp.json()] == ["github"]
