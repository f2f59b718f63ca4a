"""The conformance table: each behaviour of Suna's API, per flavour, at the wire.

One test per behaviour of the Suna contract (routes, encodings, accounts,
agents, models, the stream, and every item of "what breaks a naive client"),
run against the simulator in each flavour (``api-2025``, ``agent-start``,
``v1``) with raw aiohttp requests: the expectation of each flavour is written
beside it. Knobs are set only where a behaviour needs a short time or a
limit to be seen quickly.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from suna_sim import FLAVOURS, SunaSimulator, mint_token

ALICE = "a11ce000-0000-4000-8000-000000000001"
BOB = "b0b00000-0000-4000-8000-000000000002"
SECRET = "conformance-secret-0123456789abcdef-0123456789"
MODEL = "openai/gpt-5-mini"
AGENTS: dict[str, Any] = {
    "default_agent": "general",
    "agents": [
        {"agent_id": "general", "answer": "Answer to {prompt}", "chunks": 6},
        {"agent_id": "researcher", "answer": "Notes <b>&</b> facts", "llm_calls": 2,
         "model": "anthropic/claude-sonnet-4", "input_tokens": 100, "output_tokens": 10,
         "cached_tokens": 40, "cache_creation_tokens": 5},
        {"agent_id": "slow", "answer": "slowly", "latency_ms": 400, "chunks": 8},
        {"agent_id": "broken", "answer": "never", "faults": {"fail_rate": 1.0}},
        {"agent_id": "hanger", "answer": "never", "faults": {"hang_rate": 1.0}},
    ],
}  # fmt: skip


class Suna:
    """One simulator of one flavour, spoken to with raw HTTP."""

    def __init__(self, sim: SunaSimulator, session: aiohttp.ClientSession) -> None:
        self.sim = sim
        self.session = session
        self.flavour = sim.flavour
        self.p = "/v1" if self.flavour == "v1" else "/api"

    def auth(self, sub: str = ALICE, secret: str = SECRET) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint_token(secret, sub)}"}

    async def call(
        self, method: str, path: str, *, sub: str | None = ALICE,
        headers: dict[str, str] | None = None, **kwargs: Any,
    ) -> tuple[int, Any, str]:  # fmt: skip
        """(status, JSON body or None, raw text)."""
        sent = {**(self.auth(sub) if sub else {}), **(headers or {})}
        async with self.session.request(method, self.sim.base_url + path, headers=sent,
                                        **kwargs) as resp:  # fmt: skip
            text = await resp.text()
        try:
            return resp.status, json.loads(text), text
        except ValueError:
            return resp.status, None, text

    def agent(self, name: str, account: str = ALICE) -> str:
        return self.sim.agent_id(name, account)

    async def start(
        self, prompt: str = "hello", agent: str | None = "general", *, sub: str = ALICE,
        model: str | None = MODEL, **extra: str,
    ) -> tuple[int, Any]:  # fmt: skip
        """Start a run the flavour's way: (status, answer with thread_id and agent_run_id)."""
        options: dict[str, str] = dict(extra)
        if agent is not None:
            options["agent_id"] = self.agent(agent, sub)
        if model is not None:
            options["model_name"] = model
        if self.flavour != "api-2025":
            status, body, _ = await self.call("POST", f"{self.p}/agent/start", sub=sub,
                                              data={"prompt": prompt, **options})  # fmt: skip
            return status, body
        status, thread, _ = await self.call("POST", "/api/threads", sub=sub, data={"name": "t"})
        if status != 200:
            return status, thread
        tid = thread["thread_id"]
        await self.call("POST", f"/api/threads/{tid}/messages", sub=sub,
                        json={"type": "user", "content": prompt})  # fmt: skip
        status, body, _ = await self.call("POST", f"/api/thread/{tid}/agent/start", sub=sub,
                                          json=options)  # fmt: skip
        return status, {**body, "thread_id": tid} if status == 200 else body

    async def run(self, *args: Any, **kwargs: Any) -> tuple[str, str]:
        status, body = await self.start(*args, **kwargs)
        assert status == 200, body
        return body["thread_id"], body["agent_run_id"]

    async def get_run(self, rid: str, sub: str = ALICE) -> tuple[int, Any]:
        status, body, _ = await self.call("GET", f"{self.p}/agent-run/{rid}", sub=sub)
        return status, body

    async def until_over(self, rid: str) -> dict[str, Any]:
        for _ in range(500):
            status, body = await self.get_run(rid)
            if status == 200 and body["status"] != "running":
                return dict(body)
            await asyncio.sleep(0.01)
        raise AssertionError(f"run {rid} never ended")

    async def messages(self, tid: str) -> list[dict[str, Any]]:
        status, body, _ = await self.call("GET", f"{self.p}/threads/{tid}/messages?order=asc")
        assert status == 200, body
        return list(body["messages"])

    async def events(self, rid: str, **params: str) -> list[dict[str, Any]]:
        """One stream connection's events, until the server closes it (a run row
        ``v1`` has not written yet is waited for)."""
        url = f"{self.sim.base_url}{self.p}/agent-run/{rid}/stream"
        for _ in range(100):
            async with self.session.get(url, headers=self.auth(), params=params) as resp:
                if resp.status == 404 and self.flavour == "v1":
                    await asyncio.sleep(0.01)
                    continue
                assert resp.status == 200, await resp.text()
                raw = (await resp.read()).decode()
                break
        out = []
        for block in raw.split("\n\n"):
            if block:
                assert block.startswith("data: ") and "\n" not in block, block
                out.append(json.loads(block[6:]))
        return out


@pytest.fixture(params=FLAVOURS)
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def _suna(flavour: str, session: aiohttp.ClientSession, **knobs: Any) -> Suna:
    options: dict[str, Any] = {"flavour": flavour, "jwt_secret": SECRET, "agents": AGENTS,
                               "accounts": frozenset({ALICE, BOB}), "max_parallel_runs": 0,
                               "sandbox_latency_ms": 0}  # fmt: skip
    options.update(knobs)
    sim = SunaSimulator(**options)
    await sim.start()
    return Suna(sim, session)


@pytest.fixture
async def suna(flavour: str, session: aiohttp.ClientSession) -> AsyncIterator[Suna]:
    s = await _suna(flavour, session)
    yield s
    await s.sim.close()


@pytest.fixture
async def make(flavour: str, session: aiohttp.ClientSession) -> AsyncIterator[Any]:
    """A factory of simulators of the test's flavour with some knobs set."""
    made: list[Suna] = []

    async def build(**knobs: Any) -> Suna:
        s = await _suna(flavour, session, **knobs)
        made.append(s)
        return s

    yield build
    for s in made:
        await s.sim.close()


# Versions: routes, prefixes, encodings


async def test_start_route_of_each_flavour(suna: Suna) -> None:
    thread_start = "/api/thread/00000000-0000-0000-0000-000000000000/agent/start"
    probes = {"api-2025": thread_start, "agent-start": "/api/agent/start", "v1": "/v1/agent/start"}
    for flavour, path in probes.items():
        status, _, _ = await suna.call("GET", path, sub=None)
        assert status == (405 if flavour == suna.flavour else 404), (flavour, path)


async def test_routes_live_under_the_flavour_prefix(suna: Suna) -> None:
    other = "/api" if suna.p == "/v1" else "/v1"
    assert (await suna.call("GET", f"{suna.p}/agents"))[0] == 200
    assert (await suna.call("GET", f"{other}/agents"))[0] == 404


async def test_start_encoding(suna: Suna) -> None:
    """api-2025 takes JSON on the thread route; later flavours take multipart, prompt included."""
    if suna.flavour == "api-2025":
        status, thread, _ = await suna.call("POST", "/api/threads", data={"name": "t"})
        tid = thread["thread_id"]
        await suna.call("POST", f"/api/threads/{tid}/messages",
                        json={"type": "user", "content": "hi"})  # fmt: skip
        status, body, _ = await suna.call("POST", f"/api/thread/{tid}/agent/start",
                                          json={"model_name": MODEL})  # fmt: skip
        assert status == 200 and set(body) == {"agent_run_id", "status"}
        return
    status, body, _ = await suna.call("POST", f"{suna.p}/agent/start", json={"prompt": "hi"})
    assert status == 400  # a JSON body is no form: no prompt for a new thread
    status, body, _ = await suna.call("POST", f"{suna.p}/agent/start", data={"prompt": "hi"})
    assert status == 200
    assert {"thread_id", "agent_run_id", "project_id", "sandbox_id", "status"} <= set(body)


async def test_unified_start_writes_the_prompt_itself(suna: Suna) -> None:
    if suna.flavour == "api-2025":
        pytest.skip("api-2025 starts take no prompt")
    tid, rid = await suna.run("first")
    await suna.until_over(rid)
    status, body, _ = await suna.call("POST", f"{suna.p}/agent/start",
                                      data={"thread_id": tid, "prompt": "second"})  # fmt: skip
    assert status == 200
    await suna.until_over(body["agent_run_id"])
    users = [m["content"]["content"] for m in await suna.messages(tid) if m["type"] == "user"]
    assert users == ["first", "second"]


async def test_optimistic_start_takes_the_callers_ids(suna: Suna) -> None:
    tid, pid = str(uuid.uuid4()), str(uuid.uuid4())
    form = {"prompt": "hi", "optimistic": "true", "thread_id": tid, "project_id": pid}
    if suna.flavour == "api-2025":
        assert (await suna.call("POST", "/api/agent/start", data=form))[0] == 404
        return
    status, body, _ = await suna.call("POST", f"{suna.p}/agent/start", data=form)
    assert status == 200 and body["thread_id"] == tid and body["project_id"] == pid
    again, _, text = await suna.call("POST", f"{suna.p}/agent/start", data=form)
    assert again == 500 and text == "Internal Server Error"  # the thread exists: duplicate key
    missing = {"prompt": "hi", "optimistic": "true", "thread_id": str(uuid.uuid4())}
    assert (await suna.call("POST", f"{suna.p}/agent/start", data=missing))[0] == 400
    shared = {**form, "thread_id": str(uuid.uuid4())}  # a known project is shared
    status, body, _ = await suna.call("POST", f"{suna.p}/agent/start", data=shared)
    assert status == 200 and body["project_id"] == pid


async def test_some_versions_refuse_an_optimistic_start_in_a_known_project(make: Any) -> None:
    suna = await make(shared_projects=False)
    if suna.flavour == "api-2025":
        return  # no optimistic starts
    pid = str(uuid.uuid4())
    form = {"prompt": "hi", "optimistic": "true", "project_id": pid}
    first, _, _ = await suna.call("POST", f"{suna.p}/agent/start",
                                  data={**form, "thread_id": str(uuid.uuid4())})  # fmt: skip
    second, _, text = await suna.call("POST", f"{suna.p}/agent/start",
                                      data={**form, "thread_id": str(uuid.uuid4())})  # fmt: skip
    assert (first, second, text) == (200, 500, "Internal Server Error")


# Accounts, auth, agents, models


async def test_the_caller_must_be_an_existing_account(suna: Suna) -> None:
    for sub in ("renum", str(uuid.uuid4())):  # not a UUID; a UUID without an account
        status, body = await suna.start(sub=sub)
        assert status == 500, (sub, body)
    status, _ = await suna.start(sub=BOB)
    assert status == 200


async def test_api_key_of_an_account(make: Any) -> None:
    suna = await make(api_keys={"pk_a:sk_a": ALICE})
    status, body, _ = await suna.call("GET", f"{suna.p}/agents", sub=None,
                                      headers={"X-API-Key": "pk_a:sk_a"})  # fmt: skip
    assert status == 200 and body["agents"][0]["account_id"] == ALICE
    status, _, _ = await suna.call("GET", f"{suna.p}/agents", sub=None,
                                   headers={"X-API-Key": "pk_a:sk_wrong"})  # fmt: skip
    assert status == 401


async def test_jwt_signatures_are_verified_from_v1(suna: Suna) -> None:
    forged = {"Authorization": f"Bearer {mint_token('another-secret-0123456789abcdef', ALICE)}"}
    status, _, _ = await suna.call("GET", f"{suna.p}/agents", sub=None, headers=forged)
    assert status == (401 if suna.flavour == "v1" else 200)


async def test_agents_are_uuids_of_the_account_with_names(suna: Suna) -> None:
    status, body, _ = await suna.call("GET", f"{suna.p}/agents?search=research&page=1&limit=10")
    assert status == 200
    assert [a["name"] for a in body["agents"]] == ["researcher"]
    assert body["agents"][0]["agent_id"] == suna.agent("researcher")
    assert body["pagination"] == {"current_page": 1, "page_size": 10, "total_items": 1,
                                  "total_pages": 1, "has_next": False, "has_previous": False}
    status, page, _ = await suna.call("GET", f"{suna.p}/agents?page=2&limit=2")
    assert page["pagination"]["has_previous"] and page["pagination"]["total_items"] == 5
    status, one, _ = await suna.call("GET", f"{suna.p}/agents/{suna.agent('researcher')}")
    assert status == 200 and one["name"] == "researcher"
    status, bobs, _ = await suna.call("GET", f"{suna.p}/agents", sub=BOB)
    assert suna.agent("researcher") not in {a["agent_id"] for a in bobs["agents"]}


async def test_an_agent_name_instead_of_a_uuid_is_a_plain_500(suna: Suna) -> None:
    if suna.flavour == "api-2025":
        status, thread, _ = await suna.call("POST", "/api/threads", data={})
        tid = thread["thread_id"]
        status, _, text = await suna.call("POST", f"/api/thread/{tid}/agent/start",
                                          json={"agent_id": "classifier", "model_name": MODEL})
    else:
        status, _, text = await suna.call("POST", f"{suna.p}/agent/start",
                                          data={"prompt": "x", "agent_id": "classifier"})
    assert (status, text) == (500, "Internal Server Error")
    status, _, text = await suna.call("GET", f"{suna.p}/agents/classifier")
    assert (status, text) == (500, "Internal Server Error")


async def test_another_accounts_agent_is_not_found(suna: Suna) -> None:
    status, body = await suna.start(sub=BOB, agent=None, agent_id=suna.agent("general", ALICE))
    assert status == 404, body


async def test_create_an_agent(suna: Suna) -> None:
    status, body, _ = await suna.call("POST", f"{suna.p}/agents",
                                      json={"name": "mine", "description": "d"})  # fmt: skip
    assert status == 200 and uuid.UUID(body["agent_id"]) and body["account_id"] == ALICE
    status, found, _ = await suna.call("GET", f"{suna.p}/agents?search=mine")
    assert [a["agent_id"] for a in found["agents"]] == [body["agent_id"]]


async def test_agents_list_is_403_when_custom_agents_are_off(make: Any) -> None:
    suna = await make(custom_agents=False)
    status, body, _ = await suna.call("GET", f"{suna.p}/agents")
    assert status == 403 and "disabled" in body["detail"]


async def test_no_agent_runs_the_accounts_default(suna: Suna) -> None:
    _, rid = await suna.run("x", agent=None)
    await suna.until_over(rid)
    assert suna.sim.run(rid).agent_name == "general"


async def test_a_model_must_be_sent_in_api_2025(suna: Suna) -> None:
    _, rid = await suna.run("x", model=None)
    run = await suna.until_over(rid)
    if suna.flavour == "api-2025":
        assert run["status"] == "failed" and "NoneType" in run["error"]
    else:
        assert run["status"] == "completed"


async def test_non_uuid_thread_and_run_ids_are_a_plain_500(suna: Suna) -> None:
    for path in (f"{suna.p}/agent-run/nope", f"{suna.p}/thread/nope/agent-runs",
                 f"{suna.p}/threads/nope/messages"):
        status, _, text = await suna.call("GET", path)
        assert (status, text) == (500, "Internal Server Error"), path
    status, _, _ = await suna.call("GET", f"{suna.p}/agent-run/{uuid.uuid4()}")
    assert status == 404


# The stream


async def test_stream_lines_and_encoded_rows(suna: Suna) -> None:
    _, rid = await suna.run("hello")
    events = await suna.events(rid)
    assert events[-1] == {"type": "status", "status": "completed",
                          "message": "Agent run completed successfully",
                          **({"_event_id": events[-1]["_event_id"]} if suna.flavour == "v1"
                             else {})}  # fmt: skip
    chunks = [e for e in events if e.get("type") == "assistant" and e["message_id"] is None]
    assert chunks and all(isinstance(e["content"], str) for e in chunks)
    assert all(json.loads(e["metadata"])["stream_status"] == "chunk" for e in chunks)
    assert all(isinstance(e["sequence"], int) for e in chunks)


async def test_v1_events_carry_ids_and_resume_after_last_id(suna: Suna) -> None:
    _, rid = await suna.run("hello")
    await suna.until_over(rid)
    events = await suna.events(rid)
    ids = [e.get("_event_id") for e in events]
    if suna.flavour != "v1":
        assert ids == [None] * len(ids)
        return
    assert all(ids) and ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))
    after = await suna.events(rid, last_id=ids[2])
    assert [e["_event_id"] for e in after] == ids[3:]


async def test_v1_replays_are_partial(make: Any, flavour: str) -> None:
    suna = await make(stream_maxlen=4)
    _, rid = await suna.run("hello")
    await suna.until_over(rid)
    events = await suna.events(rid)
    if flavour == "v1":
        assert len(events) == 4 and events[-1]["status"] == "completed"
    else:
        assert len(events) > 4  # the whole list, then the status


async def test_pings_from_v1(make: Any, flavour: str) -> None:
    suna = await make(ping_interval_s=0.05) if flavour == "v1" else await make()
    _, rid = await suna.run("x", agent="slow")
    kinds = [e["type"] for e in await suna.events(rid)]
    assert ("ping" in kinds) == (flavour == "v1")


async def test_v1_fails_a_silent_run_after_four_pings(make: Any, flavour: str) -> None:
    if flavour != "v1":
        pytest.skip("only v1's stream watches the worker")
    suna = await make(ping_interval_s=0.02)
    _, rid = await suna.run("x", agent="hanger")
    events = await suna.events(rid)
    assert [e["type"] for e in events].count("ping") == 4
    run = await suna.until_over(rid)
    assert run == {**run, "status": "failed", "error": "Worker timeout"}


async def test_stream_of_a_finished_run_says_completed(suna: Suna) -> None:
    """Opened on a run that is over, the list stream says ``completed`` even when it failed."""
    _, rid = await suna.run("x", agent="broken")
    run = await suna.until_over(rid)
    events = await suna.events(rid)
    statuses = [e["status"] for e in events if e.get("type") == "status" and "status" in e
                and "content" not in e]  # fmt: skip
    if suna.flavour == "v1":
        assert run["status"] == "failed" and statuses[-1] == "error"
    else:
        assert run["status"] == "completed" and statuses[-1] == "completed"


async def test_error_closes_the_stream_only_in_v1(suna: Suna) -> None:
    _, rid = await suna.run("x", agent="broken")
    events = await suna.events(rid)  # opened while running
    last = events[-1]
    if suna.flavour == "v1":
        assert (last["type"], last["status"]) == ("status", "error")
    else:  # closes on completed; the error event comes after it
        assert (last["type"], last["status"]) == ("status", "completed")


async def test_events_arrive_out_of_order_before_v1(suna: Suna) -> None:
    swapped = 0
    for _ in range(6):
        _, rid = await suna.run("a prompt long enough to split", agent="general")
        await suna.until_over(rid)
        seqs = [e["sequence"] for e in await suna.events(rid)
                if e.get("type") == "assistant" and e["message_id"] is None]  # fmt: skip
        swapped += seqs != sorted(seqs)
    assert (swapped > 0) == (suna.flavour != "v1")


# What breaks a naive client


async def test_llm_failure(suna: Suna) -> None:
    """1. api-2025 (and agent-start): ``completed``, no answer, no usage, the error stored
    after the completion; v1: ``failed``."""
    tid, rid = await suna.run("x", agent="broken")
    run = await suna.until_over(rid)
    rows = await suna.messages(tid)
    assert not [m for m in rows if m["type"] == "assistant"]
    assert not [m for m in rows if m["type"].endswith("_response_end")]
    if suna.flavour == "v1":
        assert run["status"] == "failed" and run["error"]
        return
    assert run["status"] == "completed" and run["error"] is None
    replay = [e for e in await suna.events(rid) if e.get("type") == "status" and "status" in e]
    kinds = [e["status"] for e in replay]
    assert kinds.index("error") > kinds.index("completed")


async def test_a_stop_before_pickup(make: Any, flavour: str) -> None:
    """2. api-2025: a stop before the worker picks the run up is lost; the run completes."""
    suna = await make(pickup_delay_ms=100)
    _, rid = await suna.run("x")
    status, _, _ = await suna.call("POST", f"{suna.p}/agent-run/{rid}/stop")
    if flavour == "v1":  # the run row is written late: wait for it
        for _ in range(100):
            status, _, _ = await suna.call("POST", f"{suna.p}/agent-run/{rid}/stop")
            if status == 200:
                break
            await asyncio.sleep(0.01)
    assert status == 200
    _, run = await suna.get_run(rid)
    assert run["status"] == "stopped"
    await asyncio.sleep(0.3)
    _, run = await suna.get_run(rid)
    assert run["status"] == ("stopped" if flavour == "v1" else "completed")


async def test_a_stop_on_a_finished_run(suna: Suna) -> None:
    """2. api-2025 sets ``stopped`` over a completed run; v1 leaves it."""
    _, rid = await suna.run("x")
    await suna.until_over(rid)
    status, _, _ = await suna.call("POST", f"{suna.p}/agent-run/{rid}/stop")
    assert status == 200
    _, run = await suna.get_run(rid)
    assert run["status"] == ("completed" if suna.flavour == "v1" else "stopped")


async def test_answers_live_in_complete_tool_calls(suna: Suna) -> None:
    """3. XML in the text (api-2025, agent-start); native tool calls (v1)."""
    tid, rid = await suna.run("x", agent="researcher")
    await suna.until_over(rid)
    final = [m for m in await suna.messages(tid) if m["type"] == "assistant"][-1]
    content = final["content"]
    if suna.flavour == "v1":
        call = content["tool_calls"][0]["function"]
        assert call["name"] == "complete"
        assert json.loads(call["arguments"]) == {"text": "Notes <b>&</b> facts"}
        assert final["metadata"]["tool_calls"][0]["function_name"] == "complete"
        assert "Notes" not in content["content"]
    else:
        assert '<invoke name="complete">' in content["content"]
        assert "Notes &lt;b&gt;&amp;&lt;/b&gt; facts" in content["content"]


async def test_a_thread_is_a_sandbox_with_a_quota(make: Any) -> None:
    """4. Each new thread provisions a sandbox (latency); plan limits answer 402."""
    suna = await make(sandbox_latency_ms=80, thread_limit=2)
    began = time.monotonic()
    await suna.run("one")
    assert time.monotonic() - began >= 0.08
    await suna.run("two")
    status, body = await suna.start("three")
    assert status == 402
    assert body["detail"]["error_code"] == "THREAD_LIMIT_EXCEEDED"
    assert body["detail"]["current_count"] == 2 and body["detail"]["limit"] == 2


async def test_project_quota(make: Any) -> None:
    suna = await make(project_limit=1)
    await suna.run("one")
    status, body = await suna.start("two")
    assert status == 402 and body["detail"]["error_code"] == "PROJECT_LIMIT_EXCEEDED"


async def test_run_limit(make: Any, flavour: str) -> None:
    """5. 429 (api-2025), 402 ``AGENT_RUN_LIMIT_EXCEEDED`` later; with the counts."""
    suna = await make(max_parallel_runs=1)
    await suna.run("one", agent="slow")
    status, body = await suna.start("two")
    detail = body["detail"]
    assert detail["running_count"] == 1 and detail["limit"] == 1
    if flavour == "api-2025":
        assert status == 429 and len(detail["running_thread_ids"]) == 1
    else:
        assert status == 402 and detail["error_code"] == "AGENT_RUN_LIMIT_EXCEEDED"


async def test_run_limit_cache_outlives_the_runs(make: Any, flavour: str) -> None:
    """5. api-2025 cached the running count (15 min): refused after every run ended."""
    suna = await make(max_parallel_runs=1, run_limit_cache_s=0.3 if flavour == "api-2025" else 0)
    _, first = await suna.run("one", agent="slow")  # counted 0 running (cached for 0.3 s)
    await asyncio.sleep(0.32)
    status, _ = await suna.start("two")  # counted 1, cached
    assert status in (429, 402)
    await suna.until_over(first)
    status, _ = await suna.start("three")  # nothing runs, yet the cached count refuses it
    assert status == (429 if flavour == "api-2025" else 200)


async def test_keep_alive_is_five_seconds(make: Any) -> None:
    """6. The server closes an idle connection after ``keepalive_s`` (uvicorn: 5)."""
    suna = await make(keepalive_s=0.2)
    assert SunaSimulator().config.keepalive_s == 5.0
    loop = asyncio.get_running_loop()
    with socket.create_connection((suna.sim.host, suna.sim.port)) as sock:
        sock.setblocking(False)
        await loop.sock_sendall(sock, b"GET /_sim/faults HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = await loop.sock_recv(sock, 65536)
        assert answer.startswith(b"HTTP/1.1 200")
        began = time.monotonic()
        while chunk := await asyncio.wait_for(loop.sock_recv(sock, 65536), 2):
            answer += chunk  # the rest of the answer, then the close
        assert 0.1 < time.monotonic() - began < 1.5


async def test_a_model_the_plan_does_not_allow_is_403(make: Any) -> None:
    """A start with a model outside the account's plan is refused before any run."""
    suna = await make(allowed_models=frozenset({"openai/gpt-4o-mini"}))
    status, body = await suna.start("x", model="anthropic/claude-sonnet-4")
    assert status == 403 and body["detail"]["allowed_models"] == ["openai/gpt-4o-mini"]
    assert "subscription plan" in body["detail"]["message"]
    assert suna.sim.stats().runs_started == 0
    _, rid = await suna.run("y", model="openai/gpt-4o-mini")
    assert (await suna.until_over(rid))["status"] == "completed"


async def test_out_of_credit(make: Any) -> None:
    """7. 402 with a ``subscription``, distinct from the quotas."""
    suna = await make(faults={"out_of_credit": [ALICE]})
    status, body = await suna.start("x")
    assert status == 402 and "subscription" in body["detail"]
    assert "error_code" not in body["detail"]


# Usage


async def test_usage_rows_written_after_the_final_status(make: Any) -> None:
    """A batch writer flushing late: the run reads over before its usage rows exist."""
    suna = await make(usage_lag_ms=300)
    tid, rid = await suna.run("x", agent="researcher", model="anthropic/claude-sonnet-4")
    await suna.until_over(rid)

    def usage_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [m for m in rows if m["type"].endswith("_response_end")]
    assert usage_rows(await suna.messages(tid)) == []
    await asyncio.sleep(0.5)
    assert len(usage_rows(await suna.messages(tid))) == 2


async def test_usage_rows(suna: Suna) -> None:
    tid, rid = await suna.run("x", agent="researcher", model="anthropic/claude-sonnet-4")
    await suna.until_over(rid)
    rows = [m for m in await suna.messages(tid) if m["type"].endswith("_response_end")]
    assert len(rows) == 2  # one per LLM call
    kind = "assistant_response_end" if suna.flavour == "api-2025" else "llm_response_end"
    assert {m["type"] for m in rows} == {kind}
    content = rows[0]["content"]
    assert content["model"] == "claude-sonnet-4"  # the provider's name, no prefix
    usage = content["usage"]
    assert usage["prompt_tokens"] == 100 and usage["completion_tokens"] == 10
    if suna.flavour != "api-2025":
        assert usage["estimated"] is False and usage["fallback"] is False
        assert usage["cache_read_input_tokens"] == 40
        assert usage["cache_creation_input_tokens"] == 5
    assert rows[0]["metadata"]["thread_run_id"]


async def test_v1_writes_the_run_row_late(make: Any, flavour: str) -> None:
    suna = await make(run_row_delay_ms=150) if flavour == "v1" else await make()
    tid, rid = await suna.run("x")
    status, _ = await suna.get_run(rid)
    _, runs, _ = await suna.call("GET", f"{suna.p}/thread/{tid}/agent-runs")
    if flavour == "v1":
        assert status == 404 and runs == {"agent_runs": []}
        await asyncio.sleep(0.2)
        status, _ = await suna.get_run(rid)
    assert status == 200


async def test_v1_status_and_active_routes(suna: Suna) -> None:
    _, rid = await suna.run("x", agent="slow")
    await asyncio.sleep(0.1)
    status, body, _ = await suna.call("GET", f"/v1/agent-runs/{rid}/status")
    active, runs, _ = await suna.call("GET", "/v1/agent-runs/active")
    if suna.flavour == "v1":
        assert status == 200 and body == {"status": "running", "error": None}
        assert [r["id"] for r in runs["active_runs"]] == [rid]
    else:
        assert status == active == 404
