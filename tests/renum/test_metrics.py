"""Prometheus: names and labels by the conventions, `promtool check metrics`, worker endpoints."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from typing import Any

import aiohttp
import pytest

from renum.metrics import serve_worker_metrics, status_class
from suna_sim import SunaSimulator
from tests.conftest import ApiClient
from tests.renum.conftest import Engine
from tests.renum.helpers import create_team, launch
from tests.renum.money import delta, scrape

WORKFLOW = {
    "type": "sequential",
    "agents": [{"agent_id": "analyst", "role": "analyst", "input": {"source": "initial_prompt"}}],
}
FORBIDDEN_LABELS = {"user", "user_id", "execution", "execution_id", "run_id", "thread_id"}


async def _metrics_text(api: ApiClient) -> str:
    async with api.http.get(api.url("/metrics")) as resp:
        assert resp.status == 200
        assert resp.content_type == "text/plain"
        return await resp.text()


async def test_metrics_after_a_run(api: ApiClient, engine: Engine, sim: SunaSimulator) -> None:
    before = await scrape(api)
    await launch(api, await create_team(api, WORKFLOW))
    await engine.drain()
    after = await scrape(api)
    assert delta(before, after, "renum_executions_total", status="completed") == 1
    assert delta(before, after, "renum_step_duration_seconds_count", outcome="completed") == 1
    assert delta(before, after, "renum_suna_requests_total", status_class="2xx") >= 4
    assert delta(before, after, "renum_suna_request_duration_seconds_count") == delta(
        before, after, "renum_suna_requests_total")  # fmt: skip
    assert delta(before, after, "renum_tokens_total", provider="openai", model="gpt-5-mini",
                 kind="input") == sim.stats().usage.input_tokens  # fmt: skip
    assert after[("renum_suna_circuit_breaker_state", (("state", "closed"),))] == 1
    assert ("renum_executions_in_flight", ()) in after
    assert ("renum_queue_depth", ()) in after
    for name, labels in after:
        if name.startswith("renum_"):
            assert not FORBIDDEN_LABELS & {k for k, _ in labels}, name


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
async def test_promtool_accepts_the_exposition(
    api: ApiClient, engine: Engine, sim: SunaSimulator
) -> None:
    await launch(api, await create_team(api, WORKFLOW))
    await engine.drain()
    text = await _metrics_text(api)
    done = await asyncio.to_thread(
        subprocess.run,
        ["promtool", "check", "metrics"],
        input=text.encode(),
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()


async def test_a_worker_serves_its_own_metrics(db: Any) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert serve_worker_metrics(port, "127.0.0.1") is True
    assert serve_worker_metrics(port, "127.0.0.1") is False  # taken: a warning, not a crash
    assert serve_worker_metrics(0, "127.0.0.1") is False
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/metrics") as resp,
    ):
        assert resp.status == 200
        assert "renum_executions_in_flight" in await resp.text()


def test_status_classes() -> None:
    assert [status_class(s) for s in (200, 404, 503, None)] == ["2xx", "4xx", "5xx", "error"]
