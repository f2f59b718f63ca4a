"""The simulator is tested at the wire: raw aiohttp requests, raw SSE bytes.

Test modules cannot import this file (importlib mode): helpers come through
the ``w`` fixture (a :class:`Wire`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from suna_sim import SunaSimulator, mint_token

SECRET = "sim-test-secret-0123456789abcdef-0123"
API_KEY = "pk_sim:sk_sim_secret"


class Wire:
    """Raw HTTP helpers against one simulator."""

    SECRET = SECRET
    API_KEY = API_KEY

    def __init__(self, sim: SunaSimulator, session: aiohttp.ClientSession) -> None:
        self.sim = sim
        self.session = session

    def auth(self, account: str = "alice") -> dict[str, str]:
        """Bearer headers for ``account``."""
        return {"Authorization": f"Bearer {mint_token(SECRET, account)}"}

    async def call(
        self, method: str, path: str, *, account: str | None = "alice",
        headers: dict[str, str] | None = None, **kwargs: Any,
    ) -> tuple[int, Any, aiohttp.typedefs.LooseHeaders]:
        """(status, decoded JSON or text, headers)."""
        sent = {**(self.auth(account) if account else {}), **(headers or {})}
        async with self.session.request(
            method, self.sim.base_url + path, headers=sent, **kwargs
        ) as resp:
            text = await resp.text()
            try:
                body: Any = json.loads(text)
            except ValueError:
                body = text
            return resp.status, body, resp.headers

    async def thread(self, prompt: str | None = "hello", account: str = "alice") -> str:
        """A new thread id (with a user message unless ``prompt`` is None)."""
        status, body, _ = await self.call("POST", "/api/threads", account=account,
                                          data={"name": "t"})
        assert status == 200, body
        if prompt is not None:
            await self.call("POST", f"/api/threads/{body['thread_id']}/messages",
                            account=account, json={"type": "user", "content": prompt})
        return str(body["thread_id"])

    async def start(
        self, thread_id: str, agent_id: str | None = "general", account: str = "alice",
        headers: dict[str, str] | None = None,
    ) -> str:
        """A new run id on ``thread_id``."""
        body = {"agent_id": agent_id} if agent_id else {}
        status, answer, _ = await self.call(
            "POST", f"/api/thread/{thread_id}/agent/start", account=account, json=body,
            headers=headers,
        )
        assert status == 200, answer
        return str(answer["agent_run_id"])

    async def sse(self, run_id: str, account: str = "alice", query_token: bool = False) -> bytes:
        """The raw bytes of one stream connection, until the server closes it."""
        headers = {} if query_token else self.auth(account)
        params = {"token": mint_token(SECRET, account)} if query_token else None
        async with self.session.get(
            f"{self.sim.base_url}/api/agent-run/{run_id}/stream", headers=headers, params=params
        ) as resp:
            assert resp.status == 200, await resp.text()
            assert resp.headers["Content-Type"].startswith("text/event-stream")
            return await resp.read()

    @staticmethod
    def events(raw: bytes) -> list[dict[str, Any]]:
        """Decoded ``data:`` payloads of a raw stream."""
        out = []
        for block in raw.decode().split("\n\n"):
            if block:
                assert block.startswith("data: ") and "\n" not in block
                out.append(json.loads(block[6:]))
        return out


@pytest.fixture
async def sim() -> AsyncIterator[SunaSimulator]:
    async with SunaSimulator(jwt_secret=SECRET, api_keys={API_KEY: "alice"}) as simulator:
        yield simulator


@pytest.fixture
async def w(sim: SunaSimulator) -> AsyncIterator[Wire]:
    async with aiohttp.ClientSession() as session:
        yield Wire(sim, session)
