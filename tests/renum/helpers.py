"""Small HTTP helpers for API tests."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import ApiClient


async def create_team(api: ApiClient, workflow: dict[str, Any], *, user: str = "alice",
                      name: str = "team", check_agents: bool = True) -> str:  # fmt: skip
    """POST /v1/teams; the team id (``check_agents=False``: agents not checked in Suna)."""
    body = {"name": name, "workflow": workflow}
    params = {} if check_agents else {"check_agents": "false"}
    async with api.http.post(api.url("/v1/teams"), json=body, headers=api.auth(user),
                             params=params) as resp:  # fmt: skip
        assert resp.status == 201, await resp.text()
        return str((await resp.json())["id"])


async def launch(api: ApiClient, team_id: str, prompt: str = "hello", *, user: str = "alice",
                 headers: dict[str, str] | None = None, **body: Any) -> dict[str, Any]:  # fmt: skip
    """POST /v1/teams/{id}/executions; the answer."""
    async with api.http.post(
        api.url(f"/v1/teams/{team_id}/executions"),
        json={"initial_prompt": prompt, **body},
        headers={**api.auth(user), **(headers or {})},
    ) as resp:
        assert resp.status in (200, 202), await resp.text()
        data: dict[str, Any] = await resp.json()
        return data


async def get_json(api: ApiClient, path: str, *, user: str = "alice") -> Any:
    """GET a path as ``user``; the JSON body (asserting 200)."""
    async with api.http.get(api.url(path), headers=api.auth(user)) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def read_sse(api: ApiClient, path: str, *, user: str = "alice",
                   headers: dict[str, str] | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """Read a server-sent event stream to its end: a list of {id, event, data}."""
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    async with api.http.get(api.url(path), headers={**api.auth(user), **(headers or {})}) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.content_type == "text/event-stream"
        async for raw in resp.content:
            line = raw.decode().rstrip("\n")
            if not line:
                if current:
                    events.append(current)
                current = {}
            elif line.startswith("id: "):
                current["id"] = int(line[4:])
            elif line.startswith("event: "):
                current["event"] = line[7:]
            elif line.startswith("data: "):
                current["data"] = json.loads(line[6:])
    return events
