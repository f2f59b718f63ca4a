"""A `renum` worker process tuned for chaos: short lease, fast sweeps and claims.

The same :class:`~renum.engine.worker.Worker` as ``renum worker``; only the
timings differ, so a killed worker's executions are taken over within a few
seconds instead of half a minute. Run: ``python -m chaos.worker`` with the
usual environment (DATABASE_URL, REDIS_URL, SUNA_*, RENUM_LEASE_TTL_S).
"""

from __future__ import annotations

import asyncio
import logging
import signal

from renum.engine.worker import Worker, WorkerConfig
from renum.resources import open_resources
from renum.settings import Settings
from renum.suna import build_suna_client


def config(settings: Settings) -> WorkerConfig:
    """Production code, chaos timings: everything scaled to the lease TTL."""
    ttl_s = settings.lease_ttl_s
    return WorkerConfig(
        concurrency=settings.worker_concurrency,
        lease_ttl_s=ttl_s,
        heartbeat_s=ttl_s / 4,
        claim_idle_ms=int(ttl_s * 1500),
        sweep_interval_s=1.0,
        sweep_grace_s=1.0,
        read_block_ms=200,
        usage_retry_s=1.0,  # a run's unreadable usage is read again within the settle time
    )


async def main() -> None:
    """Run one worker until SIGTERM/SIGINT."""
    settings = Settings()
    async with open_resources(settings) as resources, build_suna_client(settings) as suna:
        worker = Worker(resources, suna, config(settings))
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, worker.stop)
        await worker.run()


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(main())
