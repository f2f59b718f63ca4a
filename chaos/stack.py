"""The service under chaos: its own PostgreSQL and Redis, the API, worker processes, Suna.

Chaos flushes Redis and restarts PostgreSQL, so the stack never shares
servers with anything else: :class:`ChaosStack` starts an embedded PostgreSQL
and an embedded Redis in a temporary directory (about two seconds), and every
scenario gets a fresh database on it. The API and the Suna simulator run in
this process over loopback; workers are real ``renum`` worker processes
(:mod:`chaos.worker`) so they can be killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import redis.asyncio as aioredis
import uvicorn

from renum.app import create_app
from renum.auth import mint_token
from renum.db import migrate
from renum.embedded import EmbeddedServers, start_postgres, start_redis
from renum.settings import Settings
from suna_sim import SunaSimulator

__all__ = ["ChaosStack", "Deployment"]

ROOT = Path(__file__).resolve().parents[1]
JWT_SECRET = "chaos-jwt-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
SIM_SECRET = "chaos-sim-secret-0123456789-0123456789-abcdef"
USER = "chaos"
#: Seconds a worker's lease lives without renewal (short: take-overs are what we test).
LEASE_TTL_S = 2.0


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


class ChaosStack:
    """Embedded PostgreSQL + Redis that this process owns and may break."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="renum-chaos-"))
        self._servers = EmbeddedServers()
        self.admin_url = ""
        self.redis_url = ""
        self.master_keys = "chaos1:" + base64.b64encode(secrets.token_bytes(32)).decode()

    def start(self) -> ChaosStack:
        """Start both servers (blocking)."""
        self.admin_url = start_postgres(self.dir, self._servers)
        self.redis_url = start_redis(self.dir, self._servers)
        return self

    def stop(self) -> None:
        """Stop both servers and delete their data (kept when CHAOS_KEEP=1, for its logs)."""
        self._servers.stop()
        if os.environ.get("CHAOS_KEEP") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)

    def stop_postgres(self) -> None:
        """``pg_ctl stop -m fast`` as pgserver runs it (as the ``pgserver`` user under root)."""
        from pgserver import _commands  # its pg_ctl is defined at import time

        pg_ctl = _commands.pg_ctl  # type: ignore[attr-defined]
        server = self._servers._pg
        pg_ctl(["-w", "stop", "-m", "fast"], pgdata=server.pgdata, user=server.system_user,
               timeout=30)  # fmt: skip

    def start_postgres(self) -> None:
        """Start the stopped PostgreSQL again, on the same socket."""
        self._servers._pg.ensure_postgres_running()

    async def new_database(self) -> str:
        """A fresh, migrated database; its URL."""
        name = f"chaos_{uuid.uuid4().hex[:10]}"
        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        url = _with_database(self.admin_url, name)
        await migrate(url)
        return url

    @asynccontextmanager
    async def deploy(
        self, sim: SunaSimulator, workers: int, master_keys: str = ""
    ) -> AsyncIterator[Deployment]:
        """API + ``workers`` worker processes on a fresh database and a flushed Redis."""
        master_keys = master_keys or self.master_keys
        database_url = await self.new_database()
        redis = aioredis.from_url(self.redis_url, decode_responses=True)
        await redis.flushall()
        settings = Settings(
            DATABASE_URL=database_url, REDIS_URL=self.redis_url, RENUM_JWT_SECRET=JWT_SECRET,
            RENUM_DATA_DIR=self.dir / "data", SUNA_BASE_URL=sim.base_url,
            SUNA_JWT_SECRET=SIM_SECRET, RENUM_MASTER_KEYS=master_keys,
            # one user launches every execution at once: the engine is tested, not the limits
            RENUM_LAUNCH_BURST=1_000_000, RENUM_USER_QUEUED_MAX=1_000_000,
        )  # fmt: skip
        server, task, base_url = await _serve(create_app(settings))
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
        deployment = Deployment(self, sim, settings, base_url, pool, redis,
                                master_keys=master_keys)  # fmt: skip
        try:
            async with aiohttp.ClientSession() as http:
                deployment.http = http
                for _ in range(workers):
                    deployment.start_worker()
                yield deployment
        finally:
            await deployment.stop_workers()
            server.should_exit = True
            await asyncio.wait_for(task, 30)
            await pool.close()
            await redis.aclose()


async def _serve(app: Any) -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="critical", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(3000):  # at most 30 s
        if server.started:
            break
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    return server, task, f"http://127.0.0.1:{port}"


@dataclass
class Deployment:
    """One scenario's running service: API URL, database pool, Redis, worker processes."""

    stack: ChaosStack
    sim: SunaSimulator
    settings: Settings
    base_url: str
    pool: Any
    redis: aioredis.Redis
    http: aiohttp.ClientSession | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    kills: int = 0
    master_keys: str = ""
    """RENUM_MASTER_KEYS of workers started from now on (default: the stack's)."""

    def auth(self) -> dict[str, str]:
        """Bearer headers of the chaos user (an admin: it stores other users' keys too)."""
        return {"Authorization": f"Bearer {mint_token(JWT_SECRET, USER, admin=True, ttl_s=3600)}"}

    def env(self) -> dict[str, str]:
        """The environment of a Renum process of this deployment."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RENUM_", "SUNA_"))}
        env.update({
            "DATABASE_URL": str(self.settings.database_url),
            "REDIS_URL": str(self.settings.redis_url),
            "SUNA_BASE_URL": self.settings.suna_base_url, "SUNA_JWT_SECRET": SIM_SECRET,
            # the simulator records the key headers it gets: key_rotation checks them
            "SUNA_FORWARD_PROVIDER_KEYS": "true",
            "RENUM_MASTER_KEYS": self.master_keys or self.stack.master_keys,
            "RENUM_LEASE_TTL_S": str(LEASE_TTL_S), "RENUM_LOG_LEVEL": "error",
            "PYTHONPATH": str(ROOT),
        })  # fmt: skip
        return env

    def start_worker(self) -> subprocess.Popen[bytes]:
        """One more worker process (``python -m chaos.worker``)."""
        log = open(self.stack.dir / "workers.log", "ab")  # noqa: SIM115 - the child owns it
        proc = subprocess.Popen([sys.executable, "-m", "chaos.worker"], env=self.env(),
                                cwd=ROOT, stdout=log, stderr=log)  # fmt: skip
        log.close()
        self.workers.append(proc)
        return proc

    async def rolling_restart(self, master_keys: str) -> None:
        """Replace the workers one at a time (SIGTERM, then a new one) with new master keys."""
        self.master_keys = master_keys
        for index, old in enumerate(list(self.workers)):
            old.terminate()
            try:
                await asyncio.to_thread(old.wait, 20)
            except subprocess.TimeoutExpired:
                old.kill()
                await asyncio.to_thread(old.wait, 10)
            self.workers.remove(old)
            self.start_worker()
            self.workers.insert(index, self.workers.pop())  # in the dead one's place

    async def renum(self, *args: str) -> tuple[int, str]:
        """Run ``renum ARGS`` against this deployment; (exit code, output)."""
        proc = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "renum", *args], env=self.env(), cwd=ROOT,
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        return proc.returncode, (proc.stdout + proc.stderr).strip()

    async def kill_worker(self, index: int) -> None:
        """SIGKILL worker ``index`` and start a replacement in its place."""
        victim = self.workers[index]
        victim.send_signal(signal.SIGKILL)
        await asyncio.to_thread(victim.wait, 30)
        self.kills += 1
        self.workers.remove(victim)
        self.start_worker()
        self.workers.insert(index, self.workers.pop())  # in the dead one's place

    async def stop_workers(self) -> None:
        """SIGTERM every worker (SIGKILL after 20 s)."""
        for proc in self.workers:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.workers:
            try:
                await asyncio.to_thread(proc.wait, 20)
            except subprocess.TimeoutExpired:
                proc.kill()
                await asyncio.to_thread(proc.wait, 10)
        self.workers.clear()

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """One API call as the chaos user; (status, JSON body or None)."""
        assert self.http is not None
        async with self.http.request(method, self.base_url + path, json=body,
                                     headers=self.auth()) as resp:  # fmt: skip
            try:
                data = await resp.json(content_type=None)
            except ValueError:
                data = None
            return resp.status, data
