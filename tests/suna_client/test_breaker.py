"""The circuit breaker: closed → open → half-open probe → closed or open again."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from suna_client import (
    BreakerConfig,
    CircuitBreaker,
    RetryPolicy,
    SunaCircuitOpenError,
    SunaServerError,
)
from suna_sim import Faults, RouteFault


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_transitions_with_a_fake_clock() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(BreakerConfig(failure_threshold=3, cooldown_s=10), clock=clock)
    assert breaker.state == "closed"
    for _ in range(2):
        breaker.release(breaker.acquire(), False)
    breaker.release(breaker.acquire(), True)  # a success resets the count
    assert breaker.consecutive_failures == 0
    for _ in range(3):
        breaker.release(breaker.acquire(), False)
    assert breaker.state == "open"
    with pytest.raises(SunaCircuitOpenError) as info:
        breaker.acquire(route="GET /api/agent-run/{rid}")
    assert info.value.retry_in_s == 10
    clock.now = 10.0
    assert breaker.state == "half_open"
    probe = breaker.acquire()
    assert probe is True
    with pytest.raises(SunaCircuitOpenError):
        breaker.acquire()  # one probe at a time
    breaker.release(probe, False)
    assert breaker.state == "open"
    clock.now = 20.0
    probe = breaker.acquire()
    breaker.release(probe, True)
    assert breaker.state == "closed"


def test_a_route_that_keeps_failing_opens_it_though_others_succeed() -> None:
    """Starts answered 5xx between successful reads: the reads must not hide them."""
    clock = FakeClock()
    breaker = CircuitBreaker(BreakerConfig(failure_threshold=3, cooldown_s=10), clock=clock)
    start, runs = "POST /v1/agent/start", "GET /v1/thread/{tid}/agent-runs"
    for i in range(3):
        breaker.release(breaker.acquire(route=start), False, route=start)
        if i < 2:
            breaker.release(breaker.acquire(route=runs), True, route=runs)
    assert breaker.state == "open"
    clock.now = 10.0
    probe = breaker.acquire(route=runs)
    breaker.release(probe, True, route=runs)
    assert breaker.state == "closed" and breaker.consecutive_failures == 0


def test_abandoned_probe_frees_the_slot() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(BreakerConfig(failure_threshold=1, cooldown_s=1), clock=clock)
    breaker.release(breaker.acquire(), False)
    clock.now = 1.0
    breaker.release(breaker.acquire(), None)  # cancelled: no verdict
    assert breaker.state == "half_open"
    assert breaker.acquire() is True


def test_disabled_breaker_never_opens() -> None:
    breaker = CircuitBreaker(BreakerConfig(enabled=False, failure_threshold=1))
    for _ in range(5):
        breaker.release(breaker.acquire(), False)
    assert breaker.state == "closed"


async def test_breaker_over_http(h: Any) -> None:
    thread_id, run_id = await h.started()
    await h.client.wait_for_run(run_id)
    h.sim.set_faults(Faults(routes=[RouteFault(kind="error", route="get_messages", status=503)]))
    config = BreakerConfig(failure_threshold=3, cooldown_s=0.2)
    async with h.make_client(breaker=config, retry=RetryPolicy(max_attempts=1)) as suna:
        for _ in range(3):
            with pytest.raises(SunaServerError):
                await suna.get_messages(thread_id)
        assert suna.breaker_state == "open"
        sent = h.sim.stats().requests["get_messages"]
        with pytest.raises(SunaCircuitOpenError):
            await suna.get_messages(thread_id)
        assert h.sim.stats().requests["get_messages"] == sent  # failed fast, nothing sent
        await asyncio.sleep(0.25)
        assert suna.breaker_state == "half_open"
        with pytest.raises(SunaServerError):
            await suna.get_messages(thread_id)  # the probe fails
        assert suna.breaker_state == "open"
        h.sim.set_faults(Faults())
        await asyncio.sleep(0.25)
        assert await suna.get_messages(thread_id)  # the probe succeeds
        assert suna.breaker_state == "closed"
        assert "closed" in repr(suna)


async def test_4xx_does_not_open_the_breaker(h: Any) -> None:
    config = BreakerConfig(failure_threshold=2, cooldown_s=5)
    async with h.make_client(breaker=config) as suna:
        for _ in range(4):
            with pytest.raises(Exception):  # noqa: B017 - 404s of any kind
                await suna.get_run(str(uuid.uuid4()))
        assert suna.breaker_state == "closed"


async def test_refused_connections_open_the_breaker(h: Any) -> None:
    await h.sim.pause()
    config = BreakerConfig(failure_threshold=2, cooldown_s=5)
    async with h.make_client(breaker=config, retry=RetryPolicy(max_attempts=1)) as suna:
        for _ in range(2):
            with pytest.raises(Exception):  # noqa: B017 - connection refused
                await suna.create_thread()
        assert suna.breaker_state == "open"
        with pytest.raises(SunaCircuitOpenError):
            await suna.create_thread()
    await h.sim.resume()


async def test_clients_of_one_url_can_share_a_breaker(h: Any) -> None:
    shared = CircuitBreaker(BreakerConfig(failure_threshold=1, cooldown_s=5), name="suna")
    await h.sim.pause()
    async with h.make_client(breaker=shared, retry=RetryPolicy(max_attempts=1)) as first, \
            h.make_client(breaker=shared) as second:
        with pytest.raises(Exception):  # noqa: B017 - connection refused
            await first.create_thread()
        assert second.breaker_state == "open"
        with pytest.raises(SunaCircuitOpenError):
            await second.create_thread()
    await h.sim.resume()
