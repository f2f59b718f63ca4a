"""The WebSocket feed: the seed's envelope, replay, `stop`, and the same authorization."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp

from suna_sim import SunaSimulator
from tests.conftest import ApiClient
from tests.renum.conftest import Engine
from tests.renum.helpers import create_team, get_json, launch
from tests.renum.test_engine import SEQUENTIAL

KINDS = {"agent_message", "credential_request", "action_result", "info", "error", "finished"}


def _ws_url(api: ApiClient, execution_id: str, token: str, after: int | None = None) -> str:
    url = api.url(f"/v1/executions/{execution_id}/ws?token={token}").replace("http", "ws", 1)
    return url + (f"&after={after}" if after is not None else "")


async def _read_all(ws: aiohttp.ClientWebSocketResponse) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    async for msg in ws:
        assert msg.type == aiohttp.WSMsgType.TEXT
        messages.append(msg.json())
    return messages


async def test_ws_carries_the_seed_envelope_and_replays(
    api: ApiClient, engine: Engine, sim: SunaSimulator
) -> None:
    team_id = await create_team(api, SEQUENTIAL)
    execution_id = (await launch(api, team_id, "the transistor"))["execution_id"]
    await engine.drain()
    async with api.http.ws_connect(_ws_url(api, execution_id, api.token())) as ws:
        messages = await _read_all(ws)
        assert ws.close_code == 1000
    assert {m["kind"] for m in messages} <= KINDS
    assert all(isinstance(m["payload"]["ts"], float) for m in messages)
    agents = [m for m in messages if m["kind"] == "agent_message"]
    assert [m["payload"]["sender"] for m in agents] == ["researcher", "analyst", "writer"]
    assert "the transistor" in agents[0]["payload"]["content"]
    assert messages[-1]["kind"] == "finished"
    assert messages[-1]["type"] == "execution_completed"
    assert "completed" in messages[-1]["payload"]["msg"]
    ids = [m["id"] for m in messages]
    assert ids == sorted(ids)
    after = agents[1]["id"]
    async with api.http.ws_connect(_ws_url(api, execution_id, api.token(), after)) as ws:
        replay = await _read_all(ws)
    assert replay[0]["id"] == after + 1
    assert replay == [m for m in messages if m["id"] > after]


async def test_ws_stop_cancels_the_execution(
    api: ApiClient, engine: Engine, sim: SunaSimulator
) -> None:
    sim.set_faults({"agents": {"researcher": {"hang_rate": 1.0}}})
    team_id = await create_team(api, SEQUENTIAL)
    execution_id = (await launch(api, team_id))["execution_id"]
    async with (
        engine.running(),
        api.http.ws_connect(_ws_url(api, execution_id, api.token())) as ws,
    ):
        async for msg in ws:  # wait for the first step to be under way
            if msg.json()["type"] == "step_started":
                break
        await ws.send_json({"cmd": "stop"})
        await ws.send_json({"cmd": "dance"})
        rest = await asyncio.wait_for(_read_all(ws), 20)
    replies = [m for m in rest if m["kind"] == "action_result" and "id" not in m]
    assert [(r["payload"]["action"], r["payload"]["detail"]) for r in replies] == [
        ("stop", "cancelling")
    ]
    assert any(m.get("type") == "cancel_requested" for m in rest)
    assert any(m["kind"] == "error" and "unknown command" in m["payload"]["msg"] for m in rest)
    assert rest[-1]["kind"] == "finished"
    assert rest[-1]["type"] == "execution_cancelled"
    assert (await get_json(api, f"/v1/executions/{execution_id}"))["status"] == "cancelled"


async def test_ws_authorization(api: ApiClient, sim: SunaSimulator) -> None:
    team_id = await create_team(api, SEQUENTIAL)
    execution_id = (await launch(api, team_id))["execution_id"]
    for token, code in [("not-a-jwt", 4401), ("", 4401), (api.token("mallory"), 4404)]:
        async with api.http.ws_connect(_ws_url(api, execution_id, token)) as ws:
            msg = await ws.receive()
            assert msg.type == aiohttp.WSMsgType.CLOSE
            assert ws.close_code == code


def test_envelope_of_each_event_kind() -> None:
    from datetime import UTC, datetime

    from renum.api.ws import envelope
    from renum.events import Event

    def kinds(type_: str, **data: Any) -> list[str]:
        messages = envelope(Event("e", 7, type_, data, datetime.now(UTC)))
        assert all(m["id"] == 7 and m["type"] == type_ for m in messages)
        return [m["kind"] for m in messages]

    assert kinds("step_output", step_id="a", answer="hi") == ["agent_message"]
    assert kinds("credential_request", step_id="a", service="openai") == ["credential_request"]
    request = envelope(
        Event("e", 1, "credential_request", {"service": "openai"}, datetime.now(UTC))
    )[0]
    assert request["payload"]["provider"] == "openai"
    assert kinds("cancel_requested") == ["action_result"]
    assert kinds("step_failed", step_id="a", error={"message": "boom"}) == ["error"]
    assert kinds("step_started", step_id="a") == ["info"]
    assert kinds("execution_completed", status="completed") == ["finished"]
    assert kinds("execution_failed", error={"message": "x"}) == ["error", "finished"]
    assert kinds("execution_budget_exceeded", error=None) == ["error", "finished"]


async def test_no_token_reaches_a_log_line_and_a_subprotocol_can_carry_it(
    api: ApiClient, engine: Engine, sim: SunaSimulator, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="uvicorn.error")  # where uvicorn logs sockets
    team_id = await create_team(api, SEQUENTIAL)
    execution_id = (await launch(api, team_id, "quiet"))["execution_id"]
    await engine.drain()
    token = api.token()
    async with api.http.ws_connect(_ws_url(api, execution_id, token)) as ws:
        assert (await _read_all(ws))[-1]["kind"] == "finished"
    async with api.http.ws_connect(_ws_url(api, execution_id, "not.a.token")) as ws:
        await _read_all(ws)
        assert ws.close_code == 4401
    url = api.url(f"/v1/executions/{execution_id}/ws").replace("http", "ws", 1)
    async with api.http.ws_connect(url, protocols=("bearer", token)) as ws:
        assert ws.protocol == "bearer"
        assert (await _read_all(ws))[-1]["kind"] == "finished"
    lines = [caplog.text, *(r.getMessage() for r in caplog.records)]
    assert any("WebSocket" in line for line in lines)  # uvicorn did log the sockets
    assert not [line for line in lines if token in line or "not.a.token" in line]
