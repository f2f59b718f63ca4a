"""wait_for_run: the stream's lies, its breaks, its replays; the confirmed status."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from suna_client import (
    MessageRow,
    RetryPolicy,
    RunStatusEvent,
    StartRequest,
    SunaInvalidIdError,
    SunaNotFoundError,
    SunaTimeoutError,
    Timeouts,
)
from suna_sim import Faults, RouteFault, RunFaults, SunaSimulator


def _keys(events: list[Any]) -> list[Any]:
    out = []
    for event in events:
        if getattr(event, "event_id", None):
            out.append(event.event_id)
        elif isinstance(event, MessageRow):
            out.append(event.message_id or (event.metadata.get("thread_run_id"), event.sequence))
        else:
            out.append(event.model_dump_json())
    return out


async def test_llm_failure_per_flavour(h: Any) -> None:
    """v1 fails the run; earlier flavours end it ``completed`` with no answer."""
    h.sim.set_faults(Faults(runs=RunFaults(fail_rate=1.0)))
    thread_id, run_id = await h.started("slow")
    seen: list[Any] = []
    result = await h.client.wait_for_run(run_id, on_event=seen.append)
    statuses = [e.status for e in seen if isinstance(e, RunStatusEvent)]
    output = await h.client.run_output(thread_id)
    assert output.answer is None and not output.has_answer and output.usage.llm_calls == 0
    if h.flavour == "v1":
        assert result.status == "failed" and result.run.error
        assert statuses[-1] == "error"  # error closes a v1 stream
    else:
        assert result.status == "completed" and result.run.error is None
        assert statuses[-1] == "completed"  # the error event comes after it


@pytest.mark.flavours("api-2025")
async def test_error_alone_does_not_close_an_api_2025_stream(h: Any) -> None:
    options = h.sim_options(h.flavour, pickup_delay_ms=100)  # the stream opens first
    async with SunaSimulator(**options) as other, h.make_client(other.base_url) as suna:
        started = await suna.start(StartRequest(prompt="x"))  # no model: the worker fails
        seen: list[Any] = []
        result = await suna.wait_for_run(started.agent_run_id, on_event=seen.append)
    assert result.status == "failed" and "NoneType" in (result.run.error or "")
    assert [e.status for e in seen if isinstance(e, RunStatusEvent)] == ["error", "ERROR"]


async def test_finished_run_streams_completed_but_waits_for_the_truth(h: Any) -> None:
    h.sim.set_faults(Faults(runs=RunFaults(billing_stop_rate=1.0)))
    _, run_id = await h.started("echo")
    await h.sim.run(run_id).task  # the run is over before the stream opens
    result = await h.client.wait_for_run(run_id)
    assert result.status == "stopped"  # confirmed by GET agent-run
    events = [e async for e in h.client.stream_run(run_id)]
    if h.flavour == "v1":  # the catch-up holds the final status
        assert events[-1].status == "stopped"
    else:  # the whole list, then Suna's lie
        assert events[-2].status == "stopped"
        assert events[-1] == RunStatusEvent(status="completed")


async def test_billing_stop_mid_run(h: Any) -> None:
    h.sim.set_faults(Faults(agents={"slow": RunFaults(billing_stop_rate=1.0)}))
    _, run_id = await h.started("slow")
    result = await h.client.wait_for_run(run_id)
    assert result.status == "stopped" and result.run.error.startswith("Billing limit reached")
    assert result.stream_status == "stopped"


async def test_stop_while_waiting(h: Any) -> None:
    _, run_id = await h.started("hanger")
    waiting = asyncio.create_task(h.client.wait_for_run(run_id))
    await asyncio.sleep(0.05)
    await h.client.stop_run(run_id)
    result = await waiting
    assert result.status == "stopped"
    assert result.stream_status == ("stopped" if h.flavour == "v1" else "STOP")


async def test_total_timeout(h: Any) -> None:
    _, run_id = await h.started("hanger")
    started = time.perf_counter()
    with pytest.raises(SunaTimeoutError) as info:
        await h.client.wait_for_run(run_id, timeout_s=0.3)
    assert 0.25 < time.perf_counter() - started < 2.0
    assert run_id in str(info.value)
    await h.client.stop_run(run_id)


async def test_status_lag_is_confirmed_not_trusted(h: Any) -> None:
    h.sim.set_faults(Faults(status_lag_ms=150))
    _, run_id = await h.started("slow")
    result = await h.client.wait_for_run(run_id)
    assert result.status == "completed"
    assert h.sim.stats().requests["get_run"] >= 2  # the first read still said running


async def test_reconnect_deduplicates_replays(h: Any) -> None:
    _, clean_id = await h.started("multi")
    clean: list[Any] = []
    await h.client.wait_for_run(clean_id, on_event=clean.append)
    h.sim.set_faults(Faults(runs=RunFaults(stream_cut_after=4, stream_cut_times=3)))
    _, run_id = await h.started("multi")
    seen: list[Any] = []
    result = await h.client.wait_for_run(run_id, on_event=seen.append)
    assert result.status == "completed" and result.reconnects == 3 and not result.polled
    assert h.sim.run(run_id).stream_cuts == 3
    assert len(seen) == len(clean) == result.events
    assert len(set(map(str, _keys(seen)))) == len(seen)
    shape = [(type(e).__name__, getattr(e, "type", None)) for e in seen]
    assert shape == [(type(e).__name__, getattr(e, "type", None)) for e in clean]


async def test_stream_always_cut_falls_back_to_polling(h: Any) -> None:
    h.sim.set_faults(Faults(runs=RunFaults(stream_cut_after=2)))
    _, run_id = await h.started("slow")
    result = await h.client.wait_for_run(run_id)
    assert result.status == "completed" and result.polled
    assert result.reconnects == h.FAST_RETRY.stream_reconnects


async def test_malformed_stream_line_reconnects(h: Any) -> None:
    thread_id, run_id = await h.started("slow")
    await h.client.list_thread_runs(thread_id, expect_run=True)  # its row is written
    h.sim.set_faults(Faults(routes=[RouteFault(kind="malformed", route="stream", count=1)]))
    result = await h.client.wait_for_run(run_id)
    assert result.status == "completed" and result.reconnects == 1


async def test_stream_5xx_then_recovers(h: Any) -> None:
    h.sim.set_faults(Faults(routes=[RouteFault(kind="error", route="stream", status=502, count=2)]))
    _, run_id = await h.started("slow")
    result = await h.client.wait_for_run(run_id)
    assert result.status == "completed" and result.reconnects == 2


async def test_server_restart_mid_wait(h: Any) -> None:
    _, run_id = await h.started("slow")
    waiting = asyncio.create_task(h.client.wait_for_run(run_id))
    await asyncio.sleep(0.05)
    await h.sim.pause()
    await asyncio.sleep(0.05)
    await h.sim.resume()
    result = await waiting
    assert result.status == "completed"


async def test_pings_are_ignored(h: Any) -> None:
    agents = {"agents": [{"agent_id": "slow", "answer": "z", "latency_ms": 250, "chunks": 1}]}
    options = h.sim_options(h.flavour, agents=agents, ping_interval_s=0.03, run_row_delay_ms=0,
                            worker_timeout_pings=0)
    async with SunaSimulator(**options) as pinging, h.make_client(pinging.base_url) as suna:
        run = await suna.start(StartRequest(prompt="x", model_name=h.MODEL))
        raw = [e async for e in suna.stream_run(run.agent_run_id)]
        assert sum(1 for e in raw if e.type == "ping") >= 3
        seen: list[Any] = []
        result = await suna.wait_for_run(run.agent_run_id, on_event=seen.append)
    assert result.status == "completed" and all(e.type != "ping" for e in seen)


async def test_idle_stream_counts_as_broken(h: Any) -> None:
    async with h.make_client(
        timeouts=Timeouts(stream_idle_s=0.1, run_s=5.0),
        retry=RetryPolicy(backoff_initial_s=0.01, jitter_s=0.0, stream_reconnects=1,
                          poll_initial_s=0.05, poll_max_s=0.05),
    ) as suna:
        _, run_id = await h.started("hanger")
        waiting = asyncio.create_task(suna.wait_for_run(run_id))
        await asyncio.sleep(0.4)
        assert not waiting.done()
        await suna.stop_run(run_id)
        result = await waiting
    assert result.status == "stopped" and result.polled


async def test_unknown_run_is_not_found(h: Any) -> None:
    began = time.monotonic()
    with pytest.raises(SunaNotFoundError):
        await h.client.wait_for_run(str(uuid.uuid4()))
    waited = time.monotonic() - began  # v1 writes run rows late: a missing one is awaited
    assert waited >= (h.FAST_TIMEOUTS.late_run_s if h.flavour == "v1" else 0)


async def test_a_run_id_that_is_not_a_uuid_is_refused_before_any_request(h: Any) -> None:
    with pytest.raises(SunaInvalidIdError) as info:
        await h.client.wait_for_run("no-such-run")
    assert info.value.kind == "run" and "no-such-run" in str(info.value)
    assert "stream" not in h.sim.stats().requests


async def test_hot_path_does_not_poll(h: Any) -> None:
    options = h.sim_options(h.flavour, run_row_delay_ms=0)
    async with SunaSimulator(**options) as other, h.make_client(other.base_url) as suna:
        started = await suna.start(StartRequest(prompt="x", model_name=h.MODEL))
        await suna.wait_for_run(started.agent_run_id)
        requests = other.stats().requests
    assert requests["stream"] == 1 and requests["get_run"] == 1


@pytest.mark.flavours("v1")
async def test_a_run_written_late_is_waited_for(h: Any) -> None:
    options = h.sim_options(h.flavour, run_row_delay_ms=150)
    async with SunaSimulator(**options) as other, h.make_client(other.base_url) as suna:
        started = await suna.start(StartRequest(prompt="x"))
        assert await suna.list_thread_runs(started.thread_id) == []  # not written yet
        runs = await suna.list_thread_runs(started.thread_id, expect_run=True)
        assert [r.id for r in runs] == [started.agent_run_id]
        late = await suna.start(StartRequest(prompt="y"))
        result = await suna.wait_for_run(late.agent_run_id)  # 404 at first
    assert result.status == "completed" and result.reconnects == 0


@pytest.mark.flavours("v1")
async def test_a_stream_of_pings_alone_is_checked_and_ends(h: Any) -> None:
    """The run's final status is written but its event never comes: the stream only pings.
    After ``stream_idle_s`` of pings the client asks ``GET agent-run`` and returns."""
    options = h.sim_options(h.flavour, ping_interval_s=0.02, worker_timeout_pings=0)
    async with SunaSimulator(**options) as other, h.make_client(
        other.base_url, timeouts=Timeouts(stream_idle_s=0.2, run_s=5.0, late_run_s=1.0)
    ) as suna:
        started = await suna.start(StartRequest(prompt="x", agent_id=h.agent("hanger")))
        waiting = asyncio.create_task(suna.wait_for_run(started.agent_run_id))
        await asyncio.sleep(0.3)
        run = other.run(started.agent_run_id)
        assert run.task is not None
        run.task.cancel()
        other.core.finish(run, "completed", error=None, control="END_STREAM")  # no event
        result = await asyncio.wait_for(waiting, 3)
    assert result.status == "completed" and result.reconnects == 0
