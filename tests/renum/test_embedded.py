"""The embedded servers are real PostgreSQL and Redis, and stop with their owner."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import psutil
import redis.asyncio as aioredis

from renum.embedded import start_missing


async def test_embedded_servers_work_and_stop(tmp_path: Path) -> None:
    servers = await asyncio.to_thread(start_missing, None, None, tmp_path)
    assert servers.database_url and servers.redis_url
    conn = await asyncpg.connect(servers.database_url)
    version = await conn.fetchval("SHOW server_version")
    await conn.close()
    assert version
    client = aioredis.from_url(servers.redis_url)
    assert await client.ping()
    info = await client.info("server")
    await client.aclose()
    redis_pid = int(info["process_id"])
    postmaster_pid = int((tmp_path / "pg" / "postmaster.pid").read_text().split()[0])
    assert psutil.pid_exists(postmaster_pid)
    await asyncio.to_thread(servers.stop)
    assert not psutil.pid_exists(redis_pid)
    assert not psutil.pid_exists(postmaster_pid) or (
        psutil.Process(postmaster_pid).status() == psutil.STATUS_ZOMBIE
    )
