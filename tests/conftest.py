"""The test harness: real PostgreSQL and Redis, clean state for every test.

``DATABASE_URL`` / ``REDIS_URL`` are used when set (CI's second pass uses the
machine's servers); otherwise embedded servers start once per session. Either
way the suite works in its own database, created for the session and dropped
after it, so it never touches data it did not make. Each test that asks for
``db`` gets every table truncated; each that asks for ``redis`` gets a flushed
Redis. Fixtures are lazy: a pure test (the DSL's) starts no server.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import pytest
import redis.asyncio as aioredis
import uvicorn

from renum.app import create_app
from renum.auth import mint_token
from renum.db import migrate
from renum.embedded import start_missing
from renum.settings import Settings

TEST_JWT_SECRET = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
#: The suite's master key ring (a real 32-byte key, for tests only).
TEST_MASTER_KEYS = "test1:7Zto4WNd9re+XkXAOjmtOl/KwniqV3YIgKd6aLRlyYA="
# Settings built without the fixtures (create_app refuses to start without a key ring).
os.environ.setdefault("RENUM_MASTER_KEYS", TEST_MASTER_KEYS)


def with_database(url: str, name: str) -> str:
    """The same server URL with another database name."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@pytest.fixture(scope="session")
def server_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(admin database URL, Redis URL): the environment's, or embedded servers'."""
    database_url = os.environ.get("DATABASE_URL") or None
    redis_url = os.environ.get("REDIS_URL") or None
    embedded = None
    if database_url is None or redis_url is None:
        data_dir = Path(os.environ.get("RENUM_TEST_DATA_DIR", tmp_path_factory.mktemp("embedded")))
        embedded = start_missing(database_url, redis_url, data_dir)
        database_url, redis_url = embedded.database_url, embedded.redis_url
    assert database_url is not None and redis_url is not None
    yield database_url, redis_url
    if embedded is not None:
        embedded.stop()


async def create_database(admin_url: str, prefix: str = "renum_test") -> str:
    """Create an empty database on the server; return its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(admin_url, name)


async def drop_database(admin_url: str, url: str) -> None:
    """Drop a database made by :func:`create_database`, closing its connections."""
    name = urlsplit(url).path.lstrip("/")
    for attempt in range(3):
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except asyncpg.exceptions.ConnectionDoesNotExistError:
            if attempt == 2:
                raise
        finally:
            await conn.close()


@pytest.fixture(scope="session")
async def database_url(server_urls: tuple[str, str]) -> AsyncIterator[str]:
    """A migrated database of the suite's own, for the whole session."""
    admin_url = server_urls[0]
    url = await create_database(admin_url)
    await migrate(url)
    yield url
    await drop_database(admin_url, url)


@pytest.fixture
async def scratch_database_url(server_urls: tuple[str, str]) -> AsyncIterator[str]:
    """An empty, unmigrated database for one test."""
    url = await create_database(server_urls[0], "renum_scratch")
    yield url
    await drop_database(server_urls[0], url)


@pytest.fixture(scope="session")
def redis_url(server_urls: tuple[str, str]) -> str:
    """The Redis the suite uses."""
    return server_urls[1]


@pytest.fixture(scope="session")
async def pool(database_url: str) -> AsyncIterator[Any]:
    """A pool on the suite's database."""
    from renum.db import create_pool

    pool = await create_pool(database_url, min_size=1, max_size=5)
    yield pool
    await pool.close()


@pytest.fixture
async def db(pool: Any) -> Any:
    """The pool, with every table emptied first."""
    tables = await pool.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
        "AND tablename <> 'schema_migrations'"
    )
    names = ", ".join(f'"{r["tablename"]}"' for r in tables)
    await pool.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    return pool


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A Redis client on a flushed database."""
    client = aioredis.from_url(redis_url, decode_responses=True)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> Settings:
    """Settings pointing at the suite's servers, with the test JWT secret."""
    return Settings(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        RENUM_JWT_SECRET=TEST_JWT_SECRET,
        RENUM_DATA_DIR=tmp_path / "data",
        RENUM_MASTER_KEYS=TEST_MASTER_KEYS,
        RENUM_LAUNCH_BURST=100_000,  # tests launch in bursts; test_fairness.py tests the limit
    )


@dataclass
class ApiClient:
    """A running API on loopback and an HTTP session to call it."""

    base_url: str
    http: aiohttp.ClientSession

    def token(self, user: str = "alice", *, admin: bool = False, ttl_s: int = 600) -> str:
        """A valid bearer token for ``user``."""
        return mint_token(TEST_JWT_SECRET, user, admin=admin, ttl_s=ttl_s)

    def auth(self, user: str = "alice", *, admin: bool = False) -> dict[str, str]:
        """Authorization headers for ``user``."""
        return {"Authorization": f"Bearer {self.token(user, admin=admin)}"}

    def url(self, path: str) -> str:
        """Absolute URL of an API path."""
        return self.base_url + path


async def serve_app(app: Any) -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    """Serve an ASGI app on an ephemeral loopback port; return server, task and base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    return server, task, f"http://127.0.0.1:{port}"


@pytest.fixture
async def api(settings: Settings, db: Any, redis: aioredis.Redis) -> AsyncIterator[ApiClient]:
    """The Renum API served over loopback HTTP, on clean state."""
    server, task, base_url = await serve_app(create_app(settings))
    async with aiohttp.ClientSession() as http:
        yield ApiClient(base_url, http)
    server.should_exit = True
    await task
