"""Retries only where safe; a start that may have reached Suna is never repeated."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from suna_client import (
    RetryPolicy,
    SunaConnectionError,
    SunaProtocolError,
    SunaRateLimitedError,
    SunaServerError,
    SunaTimeoutError,
    Timeouts,
)
from suna_sim import Faults, RouteFault


def _calls() -> tuple[list[tuple[str, int | None, float]], Any]:
    calls: list[tuple[str, int | None, float]] = []
    return calls, lambda route, status, latency: calls.append((route, status, latency))


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_reads_retry_on_gateway_errors(h: Any, status: int) -> None:
    thread_id = await h.new_thread()
    h.sim.set_faults(Faults(routes=[RouteFault(kind="error", route="get_messages", status=status,
                                               count=2)]))
    calls, hook = _calls()
    async with h.make_client(on_request=hook) as suna:
        rows = await suna.get_messages(thread_id)
    assert len(rows) == 1
    assert [c[1] for c in calls] == [status, status, 200]
    assert calls[0][0] == f"GET {h.p}/threads/{{tid}}/messages"


async def test_reads_give_up_after_max_attempts(h: Any) -> None:
    thread_id = await h.new_thread()
    h.sim.set_faults(Faults(routes=[RouteFault(kind="error", route="list_runs", status=503)]))
    with pytest.raises(SunaServerError) as info:
        await h.client.list_thread_runs(thread_id)
    assert info.value.status == 503 and "503 Service Unavailable" in info.value.body_excerpt
    assert h.sim.stats().requests["list_runs"] == h.FAST_RETRY.max_attempts


async def test_500_is_not_retried(h: Any) -> None:
    thread_id = await h.new_thread()
    h.sim.set_faults(Faults(routes=[RouteFault(kind="error", route="get_messages", status=500)]))
    with pytest.raises(SunaServerError) as info:
        await h.client.get_messages(thread_id)
    assert info.value.detail == "Simulated failure"
    assert h.sim.stats().requests["get_messages"] == 1


@pytest.mark.parametrize("status", [502, 503])
async def test_start_is_not_retried_after_5xx(h: Any, status: int) -> None:
    thread_id = await h.new_thread()
    # The worst case: Suna created the run, the proxy lost the answer.
    h.sim.set_faults(Faults(routes=[RouteFault(kind="error", route="start_agent", status=status,
                                               after=True, count=1)]))
    with pytest.raises(SunaServerError) as info:
        await h.start_on(thread_id)
    assert info.value.status == status
    stats = h.sim.stats()
    assert stats.requests["start_agent"] == 1 and stats.runs_started == 1
    assert stats.duplicate_starts == 0
    runs = await h.client.list_thread_runs(thread_id, expect_run=True)  # resolves the doubt
    assert len(runs) == 1


async def test_start_refused_before_work_is_not_retried_either(h: Any) -> None:
    thread_id = await h.new_thread()
    h.sim.set_faults(Faults(routes=[RouteFault(kind="error", route="start_agent", status=503,
                                               count=1)]))
    with pytest.raises(SunaServerError):
        await h.start_on(thread_id)
    assert h.sim.stats().requests["start_agent"] == 1 and h.sim.stats().runs_started == 0


async def test_start_is_not_retried_after_a_dropped_connection(h: Any) -> None:
    thread_id = await h.new_thread()
    h.sim.set_faults(Faults(routes=[RouteFault(kind="drop", route="start_agent", after=True)]))
    with pytest.raises(SunaConnectionError) as info:
        await h.start_on(thread_id)
    assert info.value.request_sent is True
    assert h.sim.stats().requests["start_agent"] == 1 and h.sim.stats().runs_started == 1


async def test_message_and_thread_are_not_retried_after_5xx(h: Any) -> None:
    thread_id = await h.new_thread()
    h.sim.set_faults(Faults(routes=[RouteFault(kind="error", route="add_message", status=502,
                                               after=True, count=1),
                                    RouteFault(kind="error", route="create_thread", status=503,
                                               count=1)]))
    with pytest.raises(SunaServerError):
        await h.client.add_message(thread_id, "again")
    with pytest.raises(SunaServerError):
        await h.client.create_thread()
    requests = h.sim.stats().requests
    assert requests["add_message"] == 2 and requests["create_thread"] == 2  # 1 setup + 1 each


async def test_start_is_retried_when_connection_refused(h: Any) -> None:
    thread_id = await h.new_thread()
    await h.sim.pause()
    calls, hook = _calls()
    policy = RetryPolicy(backoff_initial_s=0.15, jitter_s=0.0, max_attempts=5)
    async with h.make_client(retry=policy, on_request=hook) as fresh:

        async def restart() -> None:
            await asyncio.sleep(0.1)
            await h.sim.resume()

        restarting = asyncio.create_task(restart())
        run_id = await h.start_on(thread_id, client=fresh, agent="echo")
        await restarting
        assert (await fresh.wait_for_run(run_id)).status == "completed"
    assert calls[0][1] is None and calls[1][1] == 200
    stats = h.sim.stats()
    assert stats.requests["start_agent"] == 1 and stats.runs_started == 1
    assert stats.duplicate_starts == 0


async def test_connection_refused_everywhere_is_a_connection_error(h: Any) -> None:
    await h.sim.pause()
    async with h.make_client() as fresh:
        with pytest.raises(SunaConnectionError) as info:
            await fresh.create_thread()
    assert info.value.request_sent is False
    await h.sim.resume()


async def test_429_on_read_honours_retry_after(h: Any) -> None:
    thread_id = await h.new_thread()
    h.sim.set_faults(Faults(routes=[RouteFault(kind="rate_limit", route="get_messages",
                                               retry_after_s=0.3, count=1)]))
    started = time.perf_counter()
    await h.client.get_messages(thread_id)
    assert time.perf_counter() - started >= 0.3
    assert h.sim.stats().requests["get_messages"] == 2


async def test_429_retry_after_too_long_is_raised(h: Any) -> None:
    thread_id = await h.new_thread()
    h.sim.set_faults(Faults(routes=[RouteFault(kind="rate_limit", route="get_messages",
                                               retry_after_s=120)]))
    with pytest.raises(SunaRateLimitedError) as info:
        await h.client.get_messages(thread_id)
    assert info.value.retry_after == 120
    assert h.sim.stats().requests["get_messages"] == 1


async def test_429_burst_on_start_is_retried_only_when_allowed(h: Any) -> None:
    thread_id = await h.new_thread()
    h.sim.set_faults(Faults(routes=[RouteFault(kind="rate_limit", route="start_agent", count=1)]))
    with pytest.raises(SunaRateLimitedError):
        await h.start_on(thread_id)
    h.sim.set_faults(Faults(routes=[RouteFault(kind="rate_limit", route="start_agent", count=1)]))
    policy = RetryPolicy(backoff_initial_s=0.01, jitter_s=0.0, retry_rate_limited_starts=True)
    async with h.make_client(retry=policy) as patient:
        run_id = await h.start_on(thread_id, client=patient)
    assert run_id and h.sim.stats().runs_started == 1


async def test_stop_is_retried(h: Any) -> None:
    thread_id, run_id = await h.started("hanger")
    await h.client.list_thread_runs(thread_id, expect_run=True)  # its row is written
    h.sim.set_faults(Faults(routes=[RouteFault(kind="error", route="stop_run", status=503,
                                               count=1)]))
    assert (await h.client.stop_run(run_id)).status == "stopped"
    assert h.sim.stats().requests["stop_run"] == 2


async def test_malformed_body_is_a_protocol_error(h: Any) -> None:
    _, run_id = await h.started("echo")
    h.sim.set_faults(Faults(routes=[RouteFault(kind="malformed", route="get_run", count=1)]))
    with pytest.raises(SunaProtocolError) as info:
        await h.client.get_run(run_id)
    assert "trunc" in str(info.value)
    assert h.sim.stats().requests["get_run"] == 1


async def test_latency_spike_beyond_timeout(h: Any) -> None:
    _, run_id = await h.started("echo")
    h.sim.set_faults(Faults(routes=[RouteFault(kind="latency", route="get_run", latency_ms=400)]))
    policy = RetryPolicy(max_attempts=2, backoff_initial_s=0.01, jitter_s=0.0)
    async with h.make_client(timeouts=Timeouts(request_s=0.15), retry=policy) as impatient:
        with pytest.raises(SunaTimeoutError) as info:
            await impatient.get_run(run_id)
    assert info.value.request_sent is True
    await asyncio.sleep(0.5)
    assert h.sim.stats().requests["get_run"] == 2  # a read timing out is retried


async def test_latency_spike_within_timeout(h: Any) -> None:
    _, run_id = await h.started("echo")
    h.sim.set_faults(Faults(routes=[RouteFault(kind="latency", route="get_run", latency_ms=50)]))
    calls, hook = _calls()
    async with h.make_client(on_request=hook) as suna:
        await suna.get_run(run_id)
    assert calls[0][1] == 200 and calls[0][2] >= 0.05
