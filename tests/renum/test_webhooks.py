"""Completion webhooks: signed, retried with backoff, recorded, and SSRF-guarded."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from renum.app import create_app
from renum.settings import Settings
from renum.webhooks import (
    BlockedTargetError,
    WebhookDispatcher,
    _blocked,
    _GuardedResolver,
    blocked_literal,
    connect_host,
    sign,
    verify_signature,
)
from suna_sim import SunaSimulator
from tests.conftest import ApiClient, serve_app
from tests.renum.conftest import Engine
from tests.renum.helpers import get_json, launch

WORKFLOW = {
    "type": "sequential",
    "agents": [
        {"agent_id": "researcher", "role": "researcher", "input": {"source": "initial_prompt"}}
    ],
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Deliveries may reach the loopback receiver; retries come quickly."""
    return settings.model_copy(update={"webhook_allow_private": True, "webhook_backoff_s": 0.2})


class Receiver:
    """A webhook endpoint on loopback that fails the first ``fail_first`` calls."""

    def __init__(self, fail_first: int = 0, delay_s: float = 0.0) -> None:
        self.fail_first = fail_first
        self.delay_s = delay_s
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        await asyncio.sleep(self.delay_s)
        self.calls.append((dict(request.headers), await request.read()))
        if len(self.calls) <= self.fail_first:
            return web.Response(status=503, text="busy")
        return web.Response(status=204)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with _serving(Receiver(fail_first=1)) as hook:
        yield hook


@contextlib.asynccontextmanager
async def _serving(hook: Receiver) -> AsyncIterator[Receiver]:
    app = web.Application()
    app.router.add_post("/hook", hook.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    hook.url = f"http://127.0.0.1:{port}/hook"
    yield hook
    await runner.cleanup()


async def _team(api: ApiClient, **body: Any) -> str:
    async with api.http.post(
        api.url("/v1/teams"),
        headers=api.auth(),
        json={"name": "hooked", "workflow": WORKFLOW, **body},
    ) as resp:
        assert resp.status == 201, await resp.text()
        return str((await resp.json())["id"])


async def _wait_delivery(api: ApiClient, execution_id: str, state: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        items = (await get_json(api, f"/v1/executions/{execution_id}/webhooks"))["items"]
        if items and items[0]["state"] == state:
            return dict(items[0])
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {state} delivery: {items}")


async def test_team_webhook_is_signed_retried_and_recorded(
    api: ApiClient, engine: Engine, sim: SunaSimulator, receiver: Receiver
) -> None:
    team_id = await _team(api, webhook_url=receiver.url)
    execution_id = (await launch(api, team_id, "the transistor"))["execution_id"]
    async with engine.running(webhook_poll_s=0.05):
        delivery = await _wait_delivery(api, execution_id, "delivered")
    assert delivery["event"] == "execution.completed"
    assert delivery["attempts"] == 2
    assert [a["response_status"] for a in delivery["attempt_log"]] == [503, 204]
    assert delivery["attempt_log"][0]["error"].startswith("HTTP 503")
    secret = (await get_json(api, "/v1/webhooks/secret"))["secret"]
    headers, body = receiver.calls[-1]
    assert verify_signature(secret, body, headers["Renum-Signature"])
    assert not verify_signature(secret + "x", body, headers["Renum-Signature"])
    payload = json.loads(body)
    assert payload["event"] == "execution.completed"
    assert payload["execution"]["id"] == execution_id
    assert payload["execution"]["status"] == "completed"
    assert payload["steps"][0]["step_id"] == "researcher"
    assert "the transistor" in payload["steps"][0]["answer"]
    assert payload["usage"]["agent_runs"] == 1
    assert receiver.calls[0][1] == body  # the same summary on every attempt


async def _launch_cancelled(api: ApiClient, receiver: Receiver, team: str = "hooked") -> str:
    """Launch with the receiver as webhook and cancel at once (a quick final status)."""
    receiver.fail_first = 0
    team_id = await _team(api, name=team)
    execution_id: str = (await launch(api, team_id, webhook_url=receiver.url))["execution_id"]
    async with api.http.post(
        api.url(f"/v1/executions/{execution_id}/cancel"), headers=api.auth()
    ) as resp:
        assert resp.status == 200
    return execution_id


async def test_launch_webhook_on_a_cancelled_execution(
    api: ApiClient, receiver: Receiver, engine: Engine
) -> None:
    execution_id = await _launch_cancelled(api, receiver)
    async with engine.running(webhook_poll_s=0.05):
        delivery = await _wait_delivery(api, execution_id, "delivered")
    assert delivery["event"] == "execution.cancelled"
    assert json.loads(receiver.calls[0][1])["execution"]["status"] == "cancelled"
    other = api.auth("mallory")
    async with api.http.get(
        api.url(f"/v1/executions/{execution_id}/webhooks"), headers=other
    ) as resp:
        assert resp.status == 404


async def test_a_slow_receiver_delays_no_other_delivery(
    api: ApiClient, settings: Settings, receiver: Receiver, db: Any
) -> None:
    async with _serving(Receiver(delay_s=8.0)) as slow:
        slowly = await _launch_cancelled(api, slow, "slow")
        quickly = await _launch_cancelled(api, receiver)
        dispatcher = WebhookDispatcher(db, settings, poll_s=0.05)
        running = asyncio.create_task(dispatcher.run())
        try:
            began = time.monotonic()
            await _wait_delivery(api, quickly, "delivered")
            assert time.monotonic() - began < 3.0  # not after the slow one's 8 s
            assert slow.calls == []  # which is still being answered
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
    assert (await get_json(api, f"/v1/executions/{slowly}/webhooks"))["items"][0]["state"] \
        == "pending"  # cut short: tried again later


async def test_private_targets_are_refused_without_the_setting(
    api: ApiClient, settings: Settings, receiver: Receiver, db: Any
) -> None:
    execution_id = await _launch_cancelled(api, receiver)
    strict = settings.model_copy(update={"webhook_allow_private": False})
    dispatcher = WebhookDispatcher(db, strict)
    async with dispatcher._session() as http:
        assert await dispatcher.deliver_due(http) == 1
    delivery = await _wait_delivery(api, execution_id, "failed")
    assert delivery["attempts"] == 1
    assert delivery["last_error"].startswith("blocked")
    assert receiver.calls == []


@pytest.mark.parametrize(
    ("address", "blocked"),
    [
        ("127.0.0.1", True),
        ("10.1.2.3", True),
        ("192.168.0.1", True),
        ("172.16.0.1", True),
        ("169.254.169.254", True),
        ("::1", True),
        ("fe80::1", True),
        ("::ffff:127.0.0.1", True),
        ("0.0.0.0", True),
        ("224.0.0.1", True),
        ("8.8.8.8", False),
        ("2606:4700::1111", False),
    ],
)
def test_address_classes(address: str, blocked: bool) -> None:
    assert _blocked(address) is blocked


async def test_resolver_drops_private_answers() -> None:
    resolver = _GuardedResolver()
    with pytest.raises(BlockedTargetError):
        await resolver.resolve("localhost", 80)
    for written in ("2130706433", "0177.0.0.1", "0x7f.1", "127.1"):  # what inet_aton reads
        with pytest.raises(BlockedTargetError):
            await resolver.resolve(written, 80)
    await resolver.close()


#: Ways of writing a blocked address that a guard reading the URL one way and the client
#: another would let through: Unicode digits and dots (IDNA/NFKC), IPv6 forms that embed
#: an IPv4 address (mapped, IPv4-compatible, NAT64, 6to4, Teredo).
BYPASSES = [
    "http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/hook",  # fullwidth digits
    "http://127\u30020\u30020\u30021/hook",  # ideographic full stops
    "http://\u2460\u2461\u2466.0.0.1/hook",  # circled digits
    "http://[::ffff:127.0.0.1]/hook",
    "http://[::127.0.0.1]/hook",
    "http://[64:ff9b::7f00:1]/hook",
    "http://[64:ff9b:1::a9fe:a9fe]/hook",
    "http://[2002:7f00:1::]/hook",
    "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hook",  # Teredo, client 127.0.0.1
    "http://[::ffff:a9fe:a9fe]/hook",  # 169.254.169.254, the metadata service
]


@pytest.mark.parametrize("url", BYPASSES)
def test_bypass_forms_are_judged_as_the_client_connects(url: str) -> None:
    assert blocked_literal(url) is not None, connect_host(url)


@pytest.mark.parametrize("url", BYPASSES[:2] + BYPASSES[5:6])
async def test_a_blocked_target_is_refused_when_the_team_or_launch_is_saved(
    api: ApiClient, settings: Settings, url: str
) -> None:
    strict = settings.model_copy(update={"webhook_allow_private": False})
    server, task, base_url = await serve_app(create_app(strict))
    try:
        body = {"name": "t", "workflow": WORKFLOW, "webhook_url": url}
        async with api.http.post(base_url + "/v1/teams", json=body, headers=api.auth()) as resp:
            assert resp.status == 422
            assert (await resp.json())["errors"][0]["code"] == "blocked_target"
    finally:
        server.should_exit = True
        await task


def test_signature_scheme() -> None:
    header = sign("s3cret", b'{"a":1}', 1_700_000_000)
    assert header.startswith("t=1700000000,v1=")
    assert len(header.split("v1=")[1]) == 64
    assert not verify_signature("s3cret", b'{"a":1}', header)  # too old
    assert verify_signature("s3cret", b'{"a":1}', sign("s3cret", b'{"a":1}'))


@pytest.mark.parametrize(
    "url", ["ftp://example.com/x", "example.com/hook", "http://", "https://user:pw@example.com/"]
)
async def test_webhook_url_is_validated_on_team_and_launch(api: ApiClient, url: str) -> None:
    body = {"name": "t", "workflow": WORKFLOW, "webhook_url": url}
    async with api.http.post(api.url("/v1/teams"), json=body, headers=api.auth()) as resp:
        assert resp.status == 422
        problem = await resp.json()
        assert problem["errors"][0]["path"] == "/body/webhook_url", problem
    team_id = await _team(api)
    async with api.http.post(
        api.url(f"/v1/teams/{team_id}/executions"),
        headers=api.auth(),
        json={"initial_prompt": "x", "webhook_url": url},
    ) as resp:
        assert resp.status == 422
        assert (await resp.json())["errors"][0]["path"] == "/body/webhook_url"


async def test_secret_is_per_user_and_rotates(api: ApiClient) -> None:
    first = (await get_json(api, "/v1/webhooks/secret"))["secret"]
    assert first == (await get_json(api, "/v1/webhooks/secret"))["secret"]
    assert first != (await get_json(api, "/v1/webhooks/secret", user="bob"))["secret"]
    async with api.http.post(api.url("/v1/webhooks/secret/rotate"), headers=api.auth()) as resp:
        assert resp.status == 200
        rotated = (await resp.json())["secret"]
    assert rotated != first and rotated.startswith("whsec_")
    assert rotated == (await get_json(api, "/v1/webhooks/secret"))["secret"]
