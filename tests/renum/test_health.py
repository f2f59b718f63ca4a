"""/healthz: 200 when PostgreSQL and Redis answer, 503 problem+json naming what is down."""

from __future__ import annotations

from typing import Any

import aiohttp

from renum.app import create_app
from renum.db import migrate
from renum.settings import Settings
from tests.conftest import TEST_JWT_SECRET, drop_database, serve_app


async def test_healthy(api: Any) -> None:
    async with api.http.get(api.url("/healthz")) as response:
        assert response.status == 200
        assert await response.json() == {
            "status": "ok",
            "checks": {"postgres": "ok", "redis": "ok"},
            "suna": {"status": "ok", "flavour": "v1"},
        }


async def test_suna_down_is_reported_not_failed(settings: Settings) -> None:
    gone = settings.model_copy(update={"suna_base_url": "http://127.0.0.1:1"})
    status, _, body = await _get_health(gone)
    assert status == 200 and body["status"] == "ok"
    assert body["suna"]["status"] == "down" and "cannot reach Suna" in body["suna"]["detail"]


async def _get_health(settings: Settings) -> tuple[int, str, dict[str, Any]]:
    server, task, base_url = await serve_app(create_app(settings))
    try:
        async with aiohttp.ClientSession() as http, http.get(base_url + "/healthz") as response:
            return response.status, response.content_type, await response.json()
    finally:
        server.should_exit = True
        await task


async def test_redis_down_is_503(database_url: str) -> None:
    settings = Settings(
        DATABASE_URL=database_url,
        REDIS_URL="redis://127.0.0.1:1/0",
        RENUM_JWT_SECRET=TEST_JWT_SECRET,
    )
    status, content_type, body = await _get_health(settings)
    assert status == 503
    assert content_type == "application/problem+json"
    assert body["checks"]["postgres"] == "ok"
    assert body["checks"]["redis"].startswith("down")
    assert "redis" in body["detail"]


async def test_postgres_down_is_503(
    server_urls: tuple[str, str], scratch_database_url: str, redis_url: str
) -> None:
    await migrate(scratch_database_url)
    settings = Settings(
        DATABASE_URL=scratch_database_url, REDIS_URL=redis_url, RENUM_JWT_SECRET=TEST_JWT_SECRET
    )
    server, task, base_url = await serve_app(create_app(settings))
    try:
        await drop_database(server_urls[0], scratch_database_url)  # the database vanishes
        async with aiohttp.ClientSession() as http, http.get(base_url + "/healthz") as response:
            assert response.status == 503
            body = await response.json()
        assert body["checks"]["postgres"].startswith("down")
        assert body["checks"]["redis"] == "ok"
    finally:
        server.should_exit = True
        await task
