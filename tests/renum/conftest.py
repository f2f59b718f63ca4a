"""Engine fixtures: the Suna simulator over loopback, and in-process workers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from renum.engine.worker import Worker, WorkerConfig
from renum.resources import open_resources
from renum.settings import Settings
from renum.suna import build_suna_client
from suna_sim import SunaSimulator
from tests.conftest import TEST_JWT_SECRET, TEST_MASTER_KEYS

SIM_SECRET = "sim-secret-0123456789-0123456789-abcdef"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
async def sim(request: pytest.FixtureRequest) -> AsyncIterator[SunaSimulator]:
    """A fresh Suna simulator with the default agents and no parallel-run limit.

    ``@pytest.mark.sim(max_parallel_runs=3, agents=...)`` changes its settings.
    """
    marker = request.node.get_closest_marker("sim")
    options: dict[str, Any] = {"max_parallel_runs": 0, "seed": 1}
    options.update(marker.kwargs if marker else {})
    async with SunaSimulator(jwt_secret=SIM_SECRET, **options) as simulator:
        yield simulator


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path, sim: SunaSimulator) -> Settings:
    """Settings pointing at the suite's servers and the simulator."""
    return Settings(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        RENUM_JWT_SECRET=TEST_JWT_SECRET,
        RENUM_DATA_DIR=tmp_path / "data",
        SUNA_BASE_URL=sim.base_url,
        SUNA_JWT_SECRET=SIM_SECRET,
        RENUM_SSE_HEARTBEAT_S=0.5,
        RENUM_MASTER_KEYS=TEST_MASTER_KEYS,
        RENUM_LAUNCH_BURST=100_000,  # tests launch in bursts; test_fairness.py tests the limit
    )


class Engine:
    """Runs in-process workers against the test's settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def config(self, **overrides: Any) -> WorkerConfig:
        """A worker config tuned for tests (fast heartbeats and reads)."""
        values: dict[str, Any] = {"burst": True, "read_block_ms": 50, "heartbeat_s": 0.5,
                                  "lease_ttl_s": 5.0, "sweep_interval_s": 0.5,
                                  "sweep_grace_s": 0.5, "claim_idle_ms": 2000}  # fmt: skip
        values.update(overrides)
        return WorkerConfig(**values)

    async def drain(self, **overrides: Any) -> None:
        """Run one worker until the queue is empty and nothing is in flight."""
        overrides.setdefault("burst", True)
        async with self.running(**overrides) as worker:
            await worker.done

    @contextlib.asynccontextmanager
    async def running(self, **overrides: Any) -> AsyncIterator[RunningWorker]:
        """A worker running in the background of the test (not burst unless asked)."""
        overrides.setdefault("burst", False)
        async with (
            open_resources(self.settings) as resources,
            build_suna_client(self.settings) as suna,
        ):
            worker = Worker(resources, suna, self.config(**overrides))
            task = asyncio.create_task(worker.run())
            try:
                yield RunningWorker(worker, task)
            finally:
                worker.stop()
                await task

    def worker_process(self, *args: str, **env: str) -> subprocess.Popen[bytes]:
        """`renum worker` as a separate process on the test's settings."""
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("RENUM_", "SUNA_"))}
        full_env.update({
            "DATABASE_URL": str(self.settings.database_url),
            "REDIS_URL": str(self.settings.redis_url),
            "SUNA_BASE_URL": self.settings.suna_base_url,
            "SUNA_JWT_SECRET": SIM_SECRET,
            "RENUM_LEASE_TTL_S": "2",
            "RENUM_LOG_LEVEL": "warning",
            "RENUM_MASTER_KEYS": str(self.settings.master_keys),
        })  # fmt: skip
        full_env.update(env)
        return subprocess.Popen([sys.executable, "-m", "renum", "worker", *args], env=full_env)


@dataclass
class RunningWorker:
    """A worker task of a test."""

    worker: Worker
    task: asyncio.Task[None]

    @property
    def done(self) -> asyncio.Task[None]:
        """Completes when the worker stops (burst mode: when there is nothing left)."""
        return self.task


@pytest.fixture
def engine(settings: Settings) -> Engine:
    """In-process workers for this test."""
    return Engine(settings)


def example(name: str) -> dict[str, Any]:
    """An example workflow from examples/."""
    data: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text())
    return data
