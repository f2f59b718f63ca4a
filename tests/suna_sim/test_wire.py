"""The simulator reproduces Suna's wire format and quirks, byte for byte where it matters."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from suna_sim import Faults, RunFaults, SunaSimulator


async def test_routes_live_under_api(w: Any) -> None:
    status, body, _ = await w.call("POST", "/threads")
    assert status == 404 and body == {"detail": "Not Found"}
    status, body, headers = await w.call("POST", "/api/threads")
    assert status == 200 and set(body) == {"thread_id", "project_id"}
    assert headers["X-Request-ID"]


async def test_rest_json_is_compact_and_message_rows_hold_objects(w: Any) -> None:
    thread_id = await w.thread(None)
    async with w.session.post(
        f"{w.sim.base_url}/api/threads/{thread_id}/messages", headers=w.auth(),
        json={"type": "user", "content": "hi", "is_llm_message": True},
    ) as resp:
        raw = await resp.text()
    assert '":' in raw and '": ' not in raw  # Starlette's compact separators
    row = json.loads(raw)
    assert set(row) == {"message_id", "thread_id", "type", "is_llm_message", "content",
                        "metadata", "agent_id", "agent_version_id", "created_at", "updated_at"}
    assert row["content"] == {"role": "user", "content": "hi"} and row["metadata"] == {}


async def test_get_agent_run_is_camel_case_list_is_snake_case(w: Any) -> None:
    thread_id = await w.thread()
    run_id = await w.start(thread_id)
    status, run, _ = await w.call("GET", f"/api/agent-run/{run_id}")
    assert status == 200
    assert set(run) == {"id", "threadId", "status", "startedAt", "completedAt", "error"}
    _, runs, _ = await w.call("GET", f"/api/thread/{thread_id}/agent-runs")
    assert set(runs["agent_runs"][0]) == {"id", "thread_id", "status", "started_at",
                                          "completed_at", "error", "created_at", "updated_at"}


async def test_sse_format_strings_replay_and_completion(w: Any) -> None:
    thread_id = await w.thread("tell me")
    run_id = await w.start(thread_id, "writer")
    live = await w.sse(run_id)
    text = live.decode()
    assert "id:" not in text and "event:" not in text
    assert text.startswith("data: {") and text.endswith("\n\n")
    assert '"type": "status"' in text  # json.dumps spacing
    events = w.events(live)
    rows = [e for e in events if "content" in e]
    assert rows and all(isinstance(e["content"], str) and isinstance(e["metadata"], str)
                        for e in rows)
    chunks = [e for e in rows if json.loads(e["metadata"]).get("stream_status") == "chunk"]
    assert chunks and all(e["message_id"] is None and "sequence" in e for e in chunks)
    assert events[-1] == {"type": "status", "status": "completed",
                          "message": "Agent run completed successfully"}
    usage_types = {"assistant_response_end", "llm_response_end"}
    assert not any(e.get("type") in usage_types for e in events)  # stored, never streamed
    _, stored, _ = await w.call("GET", f"/api/threads/{thread_id}/messages")
    assert any(m["type"] == "assistant_response_end" for m in stored["messages"])
    replay = w.events(await w.sse(run_id, query_token=True))
    assert replay[:-1] == events  # full replay, then the "finished" notice
    assert replay[-1] == {"type": "status", "status": "completed"}


async def test_finished_run_says_completed_whatever_its_status(w: Any) -> None:
    w.sim.set_faults(Faults(runs=RunFaults(billing_stop_rate=1.0)))
    run_id = await w.start(await w.thread())
    await w.sim.run(run_id).task
    _, run, _ = await w.call("GET", f"/api/agent-run/{run_id}")
    assert run["status"] == "stopped" and run["error"].startswith("Billing limit reached")
    events = w.events(await w.sse(run_id))
    assert events[-1] == {"type": "status", "status": "completed"}
    assert {"type": "status", "status": "stopped", "message": run["error"]} in events


async def test_control_statuses_are_upper_case(w: Any) -> None:
    w.sim.set_faults(Faults(agents={"general": RunFaults(hang_rate=1.0)}))
    run_id = await w.start(await w.thread())
    streaming = asyncio.create_task(w.sse(run_id))
    await asyncio.sleep(0.1)
    status, body, _ = await w.call("POST", f"/api/agent-run/{run_id}/stop")
    assert (status, body) == (200, {"status": "stopped"})
    events = w.events(await streaming)
    assert events[-1] == {"type": "status", "status": "STOP"}
    thread_id = await w.thread()  # no model: the worker fails (api-2025), relayed as ERROR
    status, body, _ = await w.call("POST", f"/api/thread/{thread_id}/agent/start", json={})
    assert status == 200
    events = w.events(await w.sse(body["agent_run_id"]))
    assert [e["status"] for e in events if "status" in e and "content" not in e] == [
        "error", "ERROR"]


async def test_stop_overwrites_a_finished_run(w: Any) -> None:
    run_id = await w.start(await w.thread())
    await w.sim.run(run_id).task
    _, before, _ = await w.call("GET", f"/api/agent-run/{run_id}")
    assert before["status"] == "completed"
    await w.call("POST", f"/api/agent-run/{run_id}/stop")
    _, after, _ = await w.call("GET", f"/api/agent-run/{run_id}")
    assert after["status"] == "stopped"  # as Suna's stop does: no status check


async def test_messages_desc_by_default(w: Any) -> None:
    thread_id = await w.thread("first")
    await w.call("POST", f"/api/threads/{thread_id}/messages",
                 json={"type": "user", "content": "second"})
    _, desc, _ = await w.call("GET", f"/api/threads/{thread_id}/messages")
    _, asc, _ = await w.call("GET", f"/api/threads/{thread_id}/messages?order=asc")
    assert [m["content"]["content"] for m in desc["messages"]] == ["second", "first"]
    assert asc["messages"] == list(reversed(desc["messages"]))
    status, _, _ = await w.call("GET", f"/api/threads/{thread_id}/messages?order=up")
    assert status == 422


async def test_runs_listed_newest_first_and_duplicates_counted(w: Any) -> None:
    thread_id = await w.thread()
    first = await w.start(thread_id)
    second = await w.start(thread_id)
    _, runs, _ = await w.call("GET", f"/api/thread/{thread_id}/agent-runs")
    assert [r["id"] for r in runs["agent_runs"]] == [second, first]
    assert w.sim.stats().duplicate_starts == 1


async def test_ownership_and_auth(w: Any) -> None:
    thread_id = await w.thread()
    run_id = await w.start(thread_id)
    for method, path in [("GET", f"/api/threads/{thread_id}/messages"),
                         ("GET", f"/api/agent-run/{run_id}"),
                         ("GET", f"/api/agent-run/{run_id}/stream"),
                         ("POST", f"/api/agent-run/{run_id}/stop"),
                         ("GET", f"/api/thread/{thread_id}/agent-runs"),
                         ("POST", f"/api/thread/{thread_id}/agent/start")]:
        status, body, _ = await w.call(method, path, account="mallory", json={})
        assert (status, body) == (403, {"detail": "Not authorized to access this thread"}), path
    status, body, _ = await w.call("GET", f"/api/threads/{uuid.uuid4()}/messages")
    assert (status, body) == (404, {"detail": "Thread not found"})
    status, body, _ = await w.call("GET", f"/api/agent-run/{uuid.uuid4()}")
    assert (status, body) == (404, {"detail": "Agent run not found"})
    status, body, _ = await w.call("GET", "/api/agent-run/nope")  # PostgreSQL's 22P02
    assert (status, body) == (500, "Internal Server Error")
    status, body, headers = await w.call("POST", "/api/threads", account=None)
    assert status == 401 and headers["WWW-Authenticate"] == "Bearer"
    status, _, _ = await w.call("POST", "/api/threads", account=None,
                                headers={"X-API-Key": w.API_KEY})
    assert status == 200
    status, body, _ = await w.call("POST", "/api/threads", account=None,
                                   headers={"X-API-Key": "pk_sim:sk_wrong"})
    assert (status, body) == (401, {"detail": "Invalid API key"})
    status, _, _ = await w.call("POST", "/api/threads", account=None,
                                headers={"Authorization": "Bearer not-a-jwt"})
    assert status == 401


async def test_start_refusals(w: Any) -> None:
    thread_id = await w.thread()
    status, body, _ = await w.call("POST", f"/api/thread/{thread_id}/agent/start",
                                   json={"agent_id": str(uuid.uuid4())})
    assert (status, body) == (404, {"detail": "Agent not found or access denied"})
    status, body, _ = await w.call("POST", f"/api/thread/{thread_id}/agent/start",
                                   json={"agent_id": "ghost"})  # a name: Suna's plain 500
    assert (status, body) == (500, "Internal Server Error")
    status, body, _ = await w.call("POST", f"/api/thread/{thread_id}/agent/start",
                                   data="not json")
    assert status == 422 and isinstance(body["detail"], list)
    w.sim.set_faults(Faults(out_of_credit=[w.account_id("alice")]))
    status, body, _ = await w.call("POST", f"/api/thread/{thread_id}/agent/start", json={})
    assert status == 402 and set(body["detail"]) == {"message", "subscription"}
    assert w.sim.stats().runs_started == 0


async def test_parallel_run_limit_detail(w: Any) -> None:
    w.sim.set_faults(Faults(runs=RunFaults(hang_rate=1.0)))
    threads = [await w.thread() for _ in range(4)]
    for thread_id in threads[:3]:
        await w.start(thread_id)
    status, body, _ = await w.call("POST", f"/api/thread/{threads[3]}/agent/start", json={})
    assert status == 429
    detail = body["detail"]
    assert detail["running_count"] == 3 and detail["limit"] == 3
    assert sorted(detail["running_thread_ids"]) == sorted(threads[:3])
    assert "Maximum of 3 parallel agent runs" in detail["message"]
    status, _, _ = await w.call("POST", f"/api/thread/{threads[3]}/agent/start", json={},
                                account="bob")
    assert status == 403  # limits are per account, ownership first


async def test_initiate_creates_everything(w: Any) -> None:
    form = {"prompt": "refund please", "agent_id": w.agent("classifier"), "stream": "true",
            "model_name": w.MODEL}
    status, body, _ = await w.call("POST", "/api/agent/initiate", data=form)
    assert status == 200 and set(body) == {"thread_id", "agent_run_id"}
    await w.sim.run(body["agent_run_id"]).task
    _, messages, _ = await w.call("GET", f"/api/threads/{body['thread_id']}/messages?order=asc")
    assert messages["messages"][0]["content"] == {"role": "user", "content": "refund please"}
    answers = [m for m in messages["messages"] if m["type"] == "assistant"]
    assert '{"category": "billing"}' in answers[-1]["content"]["content"]
    status, _, _ = await w.call("POST", "/api/agent/initiate", data={"agent_id": "general"})
    assert status == 422


async def test_pings_when_idle(w: Any) -> None:
    agents = {"agents": [{"agent_id": "slow", "latency_ms": 200, "chunks": 1}]}
    async with SunaSimulator(agents=agents, jwt_secret=w.SECRET, ping_interval_s=0.04,
                             flavour="api-2025",
                             accounts=frozenset(w.ACCOUNTS.values())) as other:
        w.sim = other
        run_id = await w.start(await w.thread(), "slow")
        events = w.events(await w.sse(run_id))
    assert {"type": "ping"} in events and events[-1]["status"] == "completed"


async def test_stream_during_status_lag_ends_with_end_stream(w: Any) -> None:
    w.sim.set_faults(Faults(status_lag_ms=300))
    run_id = await w.start(await w.thread())
    await asyncio.sleep(0.05)  # the run pushed "completed"; its status is not written yet
    _, run, _ = await w.call("GET", f"/api/agent-run/{run_id}")
    assert run["status"] == "running"
    events = w.events(await w.sse(run_id))
    assert events[-2]["status"] == "completed" and events[-1] == {
        "type": "status", "status": "END_STREAM"}
