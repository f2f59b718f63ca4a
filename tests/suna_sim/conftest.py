"""The simulator is tested at the wire: raw aiohttp requests, raw SSE bytes.

Test modules cannot import this file (importlib mode): helpers come through
the ``w`` fixture (a :class:`Wire`). Accounts are named (``alice``, ``bob``,
``mallory``) and sent as their UUIDs; agents are named and started by the
UUID the simulator gives them in the caller's account. ``sim`` serves the
``api-2025`` flavour (the shapes most of these tests pin); the conformance
table runs every flavour.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from suna_sim import SunaSimulator, agent_uuid, mint_token

SECRET = "sim-test-secret-0123456789abcdef-0123"
API_KEY = "pk_sim:sk_sim_secret"
ACCOUNTS = {
    "alice": "a11ce000-0000-4000-8000-000000000001",
    "bob": "b0b00000-0000-4000-8000-000000000002",
    "mallory": "3a110000-0000-4000-8000-000000000003",
}
MODEL = "openai/gpt-5-mini"


class Wire:
    """Raw HTTP helpers against one simulator."""

    SECRET = SECRET
    API_KEY = API_KEY
    ACCOUNTS = ACCOUNTS
    MODEL = MODEL

    def __init__(self, sim: SunaSimulator, session: aiohttp.ClientSession) -> None:
        self.sim = sim
        self.session = session
        self.p = "/v1" if sim.flavour == "v1" else "/api"
        """The flavour's route prefix."""

    @staticmethod
    def account_id(account: str) -> str:
        """The UUID of a named account (any other string is sent as it is)."""
        return ACCOUNTS.get(account, account)

    def agent(self, name: str, account: str = "alice") -> str:
        """The UUID of scripted agent ``name`` in ``account``."""
        return agent_uuid(self.account_id(account), name)

    def auth(self, account: str = "alice") -> dict[str, str]:
        """Bearer headers for ``account``."""
        return {"Authorization": f"Bearer {mint_token(SECRET, self.account_id(account))}"}

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
        status, body, _ = await self.call("POST", f"{self.p}/threads", account=account,
                                          data={"name": "t"})
        assert status == 200, body
        if prompt is not None:
            await self.call("POST", f"{self.p}/threads/{body['thread_id']}/messages",
                            account=account, json={"type": "user", "content": prompt})
        return str(body["thread_id"])

    async def start(
        self, thread_id: str, agent_id: str | None = "general", account: str = "alice",
        headers: dict[str, str] | None = None, model: str | None = None,
    ) -> str:
        """A new run id on ``thread_id`` (its prompt already in it); ``agent_id`` is a name,
        ``model`` by default the agent's own."""
        body: dict[str, Any] = {"agent_id": self.agent(agent_id, account)} if agent_id else {}
        body["model_name"] = model or self._model_of(agent_id)
        if self.sim.flavour == "api-2025":
            status, answer, _ = await self.call(
                "POST", f"/api/thread/{thread_id}/agent/start", account=account, json=body,
                headers=headers,
            )
        else:
            status, answer, _ = await self.call(
                "POST", f"{self.p}/agent/start", account=account, headers=headers,
                data={**body, "thread_id": thread_id},
            )
        assert status == 200, answer
        return str(answer["agent_run_id"])

    def _model_of(self, agent: str | None) -> str:
        book = self.sim.core.agents
        return book.agents[agent or book.default_agent].model

    async def run_of(self, prompt: str = "hello", agent: str | None = "general", *,
                     account: str = "alice", model: str | None = MODEL) -> tuple[str, str]:
        """(thread id, run id) of a new run, started as the flavour starts one."""
        if self.sim.flavour == "api-2025":
            thread_id = await self.thread(prompt, account)
            return thread_id, await self.start(thread_id, agent, account, model=model)
        form: dict[str, str] = {"prompt": prompt}
        if agent is not None:
            form["agent_id"] = self.agent(agent, account)
        if model is not None:
            form["model_name"] = model
        status, answer, _ = await self.call("POST", f"{self.p}/agent/start", account=account,
                                            data=form)  # fmt: skip
        assert status == 200, answer
        return str(answer["thread_id"]), str(answer["agent_run_id"])

    async def sse(
        self, run_id: str, account: str = "alice", query_token: bool = False,
        extra: dict[str, str] | None = None,
    ) -> bytes:
        """The raw bytes of one stream connection, until the server closes it."""
        headers = {} if query_token else self.auth(account)
        params = {"token": mint_token(SECRET, self.account_id(account))} if query_token else None
        params = {**(params or {}), **(extra or {})}
        async with self.session.get(
            f"{self.sim.base_url}{self.p}/agent-run/{run_id}/stream", headers=headers,
            params=params,
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
    async with SunaSimulator(
        flavour="api-2025", jwt_secret=SECRET, api_keys={API_KEY: ACCOUNTS["alice"]},
        accounts=frozenset(ACCOUNTS.values()),
    ) as simulator:
        yield simulator


@pytest.fixture
async def w(sim: SunaSimulator) -> AsyncIterator[Wire]:
    async with aiohttp.ClientSession() as session:
        yield Wire(sim, session)
