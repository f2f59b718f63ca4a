"""Ways to run the simulator: subprocess, background thread; its public surface."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp

import suna_sim
from suna_sim import DEV_ACCOUNT_ID, SimulatorThread, mint_token
from suna_sim.__main__ import _config, parse_args


def test_suna_sim_exports() -> None:
    assert suna_sim.__all__ == [
        "DEV_ACCOUNT_ID",
        "DEV_JWT_SECRET",
        "FLAVOURS",
        "ROUTE_NAMES",
        "AgentBook",
        "AgentScript",
        "Behaviour",
        "Faults",
        "Flavour",
        "KeywordRule",
        "RouteFault",
        "RunFaults",
        "SimConfig",
        "SimStats",
        "SimulatorThread",
        "SunaSimulator",
        "UsageTotals",
        "agent_uuid",
        "behaviour_of",
        "build_app",
        "load_agents",
        "mint_token",
        "provider_model",
    ]
    for name in suna_sim.__all__:
        assert getattr(suna_sim, name) is not None


def test_cli_options(monkeypatch: Any) -> None:
    monkeypatch.setenv("SUNA_JWT_SECRET", "from-env")
    team = "7ea40000-0000-4000-8000-000000000000"
    args = parse_args(["--port", "0", "--api-key", "pk_a:sk_a", "--api-key",
                       f"pk_b:sk_b={team}", "--max-parallel-runs", "0", "--flavour", "agent-start",
                       "--ping-interval", "5", "--account", team, "--thread-limit", "10"])
    config = _config(args)
    assert config.jwt_secret == "from-env" and config.flavour == "agent-start"
    assert dict(config.api_keys) == {"pk_a:sk_a": DEV_ACCOUNT_ID, "pk_b:sk_b": team}
    assert config.accounts == {DEV_ACCOUNT_ID, team} and config.thread_limit == 10
    assert config.max_parallel_runs == 0 and config.ping_interval_s == 5
    assert parse_args([]).flavour == "v1"


async def test_subprocess_prints_its_port_first(tmp_path: Path) -> None:
    agents = tmp_path / "agents.json"
    agents.write_text(json.dumps([{"agent_id": "solo", "answer": "from file"}]))
    env = {**os.environ, "SUNA_JWT_SECRET": "sub-secret-0123456789abcdef0123456"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "suna_sim", "--port", "0", "--print-port", "--agents", str(agents),
        stdout=asyncio.subprocess.PIPE, env=env,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=20)
        port = int(line)
        token = mint_token(env["SUNA_JWT_SECRET"], DEV_ACCOUNT_ID)
        async with aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {token}"}
        ) as session:
            async with session.post(f"http://127.0.0.1:{port}/v1/threads") as resp:
                assert resp.status == 200
            async with session.get(f"http://127.0.0.1:{port}/_sim/agents") as resp:
                assert list((await resp.json())["agents"]) == ["solo"]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=20) == 0


def test_simulator_thread_for_sync_code() -> None:
    with SimulatorThread(jwt_secret="thread-secret-0123456789abcdef01234") as sim:
        assert sim.base_url.startswith("http://127.0.0.1:")
        assert sim.stats().runs_started == 0
        sim.set_faults({"out_of_credit": ["x"]})
        sim.reset()
        assert sim.stats().threads == 0
