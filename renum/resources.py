"""The long-lived resources one process builds once and shares: pool, Redis, embedded servers.

Built by :func:`open_resources` (an async context manager used by the API's
lifespan, the workers and the CLI) and reached from routes through the
``Annotated`` dependency aliases in :mod:`renum.api.deps`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from renum.db import create_pool, migrate
from renum.embedded import EmbeddedServers, start_missing
from renum.settings import Settings

__all__ = ["Resources", "open_resources", "resolve_urls"]

_log = logging.getLogger("renum.resources")
#: How long a starting process waits for a PostgreSQL that is restarting or not up yet.
PG_CONNECT_WAIT_S = 30.0


@dataclass
class Resources:
    """What a running process holds: settings, the PostgreSQL pool and the Redis client."""

    settings: Settings
    pool: Any
    redis: aioredis.Redis
    database_url: str
    redis_url: str
    embedded: EmbeddedServers | None = field(default=None, repr=False)


async def resolve_urls(settings: Settings) -> tuple[str, str, EmbeddedServers | None]:
    """Return the database and Redis URLs, starting embedded servers for the unset ones."""
    if settings.database_url and settings.redis_url:
        return settings.database_url, settings.redis_url, None
    servers = await asyncio.to_thread(
        start_missing, settings.database_url, settings.redis_url, settings.data_dir
    )
    assert servers.database_url is not None and servers.redis_url is not None
    return servers.database_url, servers.redis_url, servers


async def _create_pool_waiting(database_url: str, settings: Settings) -> Any:
    """The pool; a PostgreSQL that is restarting (or not up yet) is waited for, briefly."""
    deadline = time.monotonic() + PG_CONNECT_WAIT_S
    while True:
        try:
            return await create_pool(
                database_url, min_size=settings.db_pool_min, max_size=settings.db_pool_max
            )
        except (OSError, asyncpg.CannotConnectNowError) as exc:
            if time.monotonic() > deadline:
                raise
            _log.warning("postgresql not reachable (%s); retrying", type(exc).__name__)
            await asyncio.sleep(0.5)


@asynccontextmanager
async def open_resources(
    settings: Settings, *, run_migrations: bool = False
) -> AsyncIterator[Resources]:
    """Open the pool and Redis (and embedded servers when needed); close them on exit."""
    database_url, redis_url, embedded = await resolve_urls(settings)
    try:
        if run_migrations:
            await migrate(database_url)
        pool = await _create_pool_waiting(database_url, settings)
        redis = aioredis.from_url(redis_url, decode_responses=True, health_check_interval=30)
        try:
            yield Resources(settings, pool, redis, database_url, redis_url, embedded)
        finally:
            await redis.aclose()
            await pool.close()
    finally:
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
