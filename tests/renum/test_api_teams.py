"""Teams CRUD, the DSL routes and execution listing over HTTP."""

from __future__ import annotations

from typing import Any

from tests.conftest import ApiClient
from tests.renum.helpers import create_team, get_json, launch

ONE_STEP = {
    "type": "sequential",
    "agents": [
        {"agent_id": "researcher", "role": "researcher", "input": {"source": "initial_prompt"}}
    ],
}


async def test_team_lifecycle(api: ApiClient) -> None:
    team_id = await create_team(api, ONE_STEP, name="first")
    team = await get_json(api, f"/v1/teams/{team_id}")
    assert team["name"] == "first" and team["steps"] == ["researcher"]
    two_steps = {
        "type": "parallel",
        "agents": [
            {"agent_id": "researcher", "role": "r", "input": {"source": "initial_prompt"}},
            {"agent_id": "analyst", "role": "a", "input": {"source": "initial_prompt"}},
        ],
    }
    body = {"name": "renamed", "description": "d", "workflow": two_steps}
    async with api.http.put(api.url(f"/v1/teams/{team_id}"), json=body, headers=api.auth()) as resp:
        assert resp.status == 200
        assert (await resp.json())["steps"] == ["researcher", "analyst"]
    async with api.http.delete(api.url(f"/v1/teams/{team_id}"), headers=api.auth()) as resp:
        assert resp.status == 204
    async with api.http.get(api.url(f"/v1/teams/{team_id}"), headers=api.auth()) as resp:
        assert resp.status == 404


async def test_duplicate_team_name_is_409(api: ApiClient) -> None:
    await create_team(api, ONE_STEP, name="same")
    async with api.http.post(
        api.url("/v1/teams"), json={"name": "same", "workflow": ONE_STEP}, headers=api.auth()
    ) as resp:
        assert resp.status == 409
        assert (await resp.json())["code"] == "conflict"
    await create_team(api, ONE_STEP, name="same", user="bob")  # names are per user


async def test_team_pagination(api: ApiClient) -> None:
    for i in range(5):
        await create_team(api, ONE_STEP, name=f"t{i}")
    seen: list[str] = []
    cursor = None
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = await get_json(api, "/v1/teams" + query)
        seen += [t["name"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["t4", "t3", "t2", "t1", "t0"]
    async with api.http.get(api.url("/v1/teams?cursor=garbage"), headers=api.auth()) as resp:
        assert resp.status == 422
        assert (await resp.json())["errors"][0]["path"] == "/query/cursor"


async def test_execution_list_filters_and_pages(api: ApiClient) -> None:
    team_a = await create_team(api, ONE_STEP, name="a")
    team_b = await create_team(api, ONE_STEP, name="b")
    ids_a = [(await launch(api, team_a, f"p{i}"))["execution_id"] for i in range(3)]
    await launch(api, team_b, "other")
    page = await get_json(api, f"/v1/executions?team_id={team_a}&limit=2")
    assert [e["id"] for e in page["items"]] == ids_a[::-1][:2]
    rest = await get_json(api, f"/v1/executions?team_id={team_a}&cursor={page['next_cursor']}")
    assert [e["id"] for e in rest["items"]] == [ids_a[0]] and rest["next_cursor"] is None
    queued = await get_json(api, "/v1/executions?status=queued")
    assert len(queued["items"]) == 4
    async with api.http.get(api.url("/v1/executions?status=bogus"), headers=api.auth()) as resp:
        assert resp.status == 422
    assert (await get_json(api, "/v1/executions", user="bob"))["items"] == []


async def test_launch_validation_names_the_field(api: ApiClient) -> None:
    team_id = await create_team(api, ONE_STEP)
    async with api.http.post(api.url(f"/v1/teams/{team_id}/executions"),
                             json={"initial_prompt": "", "budget_usd": -1},
                             headers=api.auth()) as resp:  # fmt: skip
        assert resp.status == 422
        body = await resp.json()
    paths = {e["path"] for e in body["errors"]}
    assert {"/body/initial_prompt", "/body/budget_usd"} <= paths
    async with api.http.post(
        api.url(f"/v1/teams/{team_id}/executions"),
        data=b"{not json",
        headers={**api.auth(), "Content-Type": "application/json"},
    ) as resp:
        assert resp.status == 422
        assert resp.content_type == "application/problem+json"
        assert (await resp.json())["errors"][0]["path"].startswith("/body")


async def test_dsl_validate_and_schema(api: ApiClient) -> None:
    async with api.http.post(
        api.url("/v1/dsl/validate"), json=ONE_STEP, headers=api.auth()
    ) as resp:
        assert resp.status == 200
        summary: dict[str, Any] = await resp.json()
    assert summary["valid"] and summary["steps"][0]["id"] == "researcher"
    bad = {"type": "loop", "agents": []}
    async with api.http.post(api.url("/v1/dsl/validate"), json=bad, headers=api.auth()) as resp:
        assert resp.status == 422
        assert resp.content_type == "application/problem+json"
        problems = (await resp.json())["errors"]
    assert {p["path"] for p in problems} >= {"/type"}
    schema = await get_json(api, "/v1/dsl/schema")
    assert schema.get("$schema") or schema.get("type") == "object"
