"""Faults, set at start or through the admin route, do what they say."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from suna_sim import Faults, RouteFault, RunFaults, SunaSimulator


async def _faults(w: Any, doc: dict[str, Any]) -> None:
    status, body, _ = await w.call("POST", "/_sim/faults", account=None, json=doc)
    assert status == 200, body


async def test_admin_route_sets_reads_and_rejects(w: Any) -> None:
    await _faults(w, {"routes": [{"kind": "error", "route": "get_run", "status": 502}]})
    _, current, _ = await w.call("GET", "/_sim/faults", account=None)
    assert current["routes"][0]["status"] == 502
    status, body, _ = await w.call("POST", "/_sim/faults", account=None,
                                   json={"routes": [{"kind": "explode"}]})
    assert status == 422 and body["detail"]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_error_fault_bodies(w: Any, status: int) -> None:
    await _faults(w, {"routes": [{"kind": "error", "route": "create_thread", "status": status}]})
    got, body, headers = await w.call("POST", "/api/threads")
    assert got == status
    if status == 500:
        assert body == {"detail": "Simulated failure"}
    else:
        assert headers["Content-Type"].startswith("text/html") and str(status) in body


async def test_count_limits_a_fault(w: Any) -> None:
    await _faults(w, {"routes": [{"kind": "error", "route": "*", "count": 2}]})
    statuses = [(await w.call("POST", "/api/threads"))[0] for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert w.sim.stats().faults_injected == {"error": 2}


async def test_rate_is_seeded(w: Any) -> None:
    async def pattern() -> list[int]:
        async with SunaSimulator(
            flavour="api-2025", jwt_secret=w.SECRET, seed=11,
            accounts=frozenset(w.ACCOUNTS.values()),
            faults={"routes": [{"kind": "error", "route": "create_thread", "rate": 0.5}]},
        ) as other:
            w.sim = other
            return [(await w.call("POST", "/api/threads"))[0] for _ in range(12)]

    first = await pattern()
    assert first == await pattern() and {503, 200} == set(first)


async def test_after_fault_keeps_the_work(w: Any) -> None:
    thread_id = await w.thread()
    await _faults(w, {"routes": [{"kind": "error", "route": "start_agent", "after": True,
                                  "status": 502, "count": 1}]})
    status, _, _ = await w.call("POST", f"/api/thread/{thread_id}/agent/start", json={})
    assert status == 502
    assert w.sim.stats().runs_started == 1  # the run exists; its answer was lost


async def test_rate_limit_burst(w: Any) -> None:
    thread_id = await w.thread()
    await _faults(w, {"routes": [{"kind": "rate_limit", "route": "start_agent", "count": 2,
                                  "retry_after_s": 1.5}]})
    for _ in range(2):
        status, body, headers = await w.call("POST", f"/api/thread/{thread_id}/agent/start",
                                             json={})
        assert status == 429 and headers["Retry-After"] == "1.5"
        assert {"running_count", "limit", "message"} <= set(body["detail"])
    status, _, _ = await w.call("POST", f"/api/thread/{thread_id}/agent/start", json={})
    assert status == 200


async def test_malformed_and_drop(w: Any) -> None:
    await _faults(w, {"routes": [{"kind": "malformed", "route": "create_thread", "count": 1},
                                 {"kind": "drop", "route": "add_message", "count": 1}]})
    status, body, _ = await w.call("POST", "/api/threads")
    assert status == 200 and isinstance(body, str)  # not JSON
    thread_id = await w.thread(None)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await w.call("POST", f"/api/threads/{thread_id}/messages",
                     json={"type": "user", "content": "x"})


async def test_latency_fault(w: Any) -> None:
    await _faults(w, {"routes": [{"kind": "latency", "route": "create_thread",
                                  "latency_ms": 120}]})
    started = time.perf_counter()
    assert (await w.call("POST", "/api/threads"))[0] == 200
    assert time.perf_counter() - started >= 0.12


async def test_run_latency_spike(w: Any) -> None:
    w.sim.set_faults(Faults(runs=RunFaults(latency_spike_rate=1.0, latency_spike_ms=150)))
    run_id = await w.start(await w.thread(), "classifier")
    started = time.perf_counter()
    await w.sim.run(run_id).task
    assert time.perf_counter() - started >= 0.14


async def test_stream_cut_after_n_events(w: Any) -> None:
    w.sim.set_faults(Faults(runs=RunFaults(stream_cut_after=3, stream_cut_times=1)))
    run_id = await w.start(await w.thread(), "writer")
    with pytest.raises(aiohttp.ClientPayloadError):
        await w.sse(run_id)
    full = w.events(await w.sse(run_id))  # only the first connection is cut
    assert full[-1]["status"] == "completed" and w.sim.run(run_id).stream_cuts == 1


async def test_hang_until_stopped_and_per_agent_faults(w: Any) -> None:
    w.sim.set_faults(Faults(agents={"writer": RunFaults(hang_rate=1.0)}))
    hung = await w.start(await w.thread(), "writer")
    fine = await w.start(await w.thread(), "general")
    await w.sim.run(fine).task
    await asyncio.sleep(0.2)
    assert w.sim.run(hung).status == "running" and w.sim.run(fine).status == "completed"
    await w.call("POST", f"/api/agent-run/{hung}/stop")
    assert w.sim.run(hung).status == "stopped" and w.sim.stats().running == 0


async def test_faults_at_start_and_reset(w: Any) -> None:
    async with SunaSimulator(
        flavour="api-2025", jwt_secret=w.SECRET, accounts=frozenset(w.ACCOUNTS.values()),
        faults=Faults(routes=[RouteFault(kind="error", route="*")]),
    ) as other:
        w.sim = other
        assert (await w.call("POST", "/api/threads"))[0] == 503
        status, body, _ = await w.call("POST", "/_sim/reset", account=None)
        assert (status, body) == (200, {"status": "reset"})
        assert (await w.call("POST", "/api/threads"))[0] == 200
        assert other.stats().threads == 1
