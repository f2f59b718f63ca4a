"""Running the simulator: in the current loop, in a thread, or as a process.

``async with SunaSimulator(jwt_secret=...) as sim: sim.base_url`` binds
127.0.0.1 on an ephemeral port; :class:`SimulatorThread` does the same on a
loop of its own for synchronous code; ``python -m suna_sim`` runs it alone.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from .admin import add_admin_routes
from .agents import AgentBook, load_agents
from .auth import mint_token
from .config import SimConfig
from .core import SimCore
from .faults import Faults
from .http import CORE, fault_middleware
from .ids import DEV_ACCOUNT_ID, agent_uuid
from .routes import add_api_routes
from .state import SimRun
from .stats import SimStats

__all__ = ["SimulatorThread", "SunaSimulator", "build_app"]

AgentSource = str | Path | Mapping[str, Any] | Sequence[Any] | AgentBook | None


def build_app(core: SimCore) -> web.Application:
    """The aiohttp application of a simulator core."""
    app = web.Application(middlewares=[fault_middleware], client_max_size=32 * 1024**2)
    app[CORE] = core
    add_api_routes(app, core)
    add_admin_routes(app)
    return app


class SunaSimulator:
    """A Suna-compatible server in the running event loop."""

    def __init__(
        self,
        *,
        agents: AgentSource = None,
        faults: Faults | Mapping[str, Any] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        config: SimConfig | None = None,
        **settings: Any,
    ) -> None:
        """``settings`` are :class:`SimConfig` fields (``flavour=``, ``max_parallel_runs=``…)."""
        if isinstance(settings.get("accounts"), list | set | tuple):
            settings["accounts"] = frozenset(settings["accounts"])
        self.config = config or SimConfig(**settings)
        book = agents if isinstance(agents, AgentBook) else load_agents(agents)
        fault_doc = Faults.model_validate(faults) if isinstance(faults, Mapping) else faults
        self.core = SimCore(self.config, book, fault_doc)
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    async def start(self) -> None:
        """Bind and serve; ``port`` becomes the bound one."""
        self._runner = web.AppRunner(
            build_app(self.core), access_log=None, handler_cancellation=True,
            keepalive_timeout=self.config.keepalive_s,
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=4096)
        await site.start()
        self._site = site
        address = self._runner.addresses[0]
        self.port = int(address[1])

    async def pause(self) -> None:
        """Stop listening (new connections are refused), as during a restart."""
        if self._site is not None:
            await self._site.stop()
            self._site = None

    async def resume(self) -> None:
        """Listen again on the same port."""
        if self._runner is not None and self._site is None:
            site = web.TCPSite(self._runner, self.host, self.port, backlog=4096)
            await site.start()
            self._site = site

    async def close(self) -> None:
        """Stop every run and the server."""
        for run in self.core.runs.values():
            if run.task is not None and not run.task.done():
                run.task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self._site = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        """``http://host:port`` (routes live under ``/api`` or ``/v1``, by flavour)."""
        return f"http://{self.host}:{self.port}"

    @property
    def flavour(self) -> str:
        """The API flavour served."""
        return self.config.flavour

    def agent_id(self, name: str, account_id: str = DEV_ACCOUNT_ID) -> str:
        """The UUID of scripted agent ``name`` in ``account_id`` (as Suna would list it)."""
        return agent_uuid(account_id, name)

    def stats(self) -> SimStats:
        """Every counter (runs per thread/agent, duplicate starts, usage, key headers)."""
        return self.core.stats()

    def set_faults(self, faults: Faults | Mapping[str, Any]) -> None:
        """Replace every fault."""
        doc = Faults.model_validate(faults) if isinstance(faults, Mapping) else faults
        self.core.faults.set(doc)

    def reset(self) -> None:
        """Forget threads, runs, counters and faults."""
        self.core.reset()

    def run(self, run_id: str) -> SimRun:
        """A run's record (``done_wall`` is when its final status was written)."""
        return self.core.runs[run_id]

    def token(self, sub: str = DEV_ACCOUNT_ID, *, ttl_s: int = 3600) -> str:
        """A bearer token for account ``sub`` (the development account by default)."""
        return mint_token(self.config.jwt_secret, sub, ttl_s=ttl_s)


class SimulatorThread:
    """A :class:`SunaSimulator` on its own event loop in a daemon thread."""

    def __init__(self, **kwargs: Any) -> None:
        self._kwargs = kwargs
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.sim: SunaSimulator | None = None

    def _call(self, fn: Any) -> Any:
        async def call() -> Any:
            return fn()

        future: Future[Any] = asyncio.run_coroutine_threadsafe(call(), self._loop)
        return future.result(timeout=30)

    def start(self) -> Self:
        """Start the thread and the server; returns ``self``."""
        self._thread.start()

        async def boot() -> SunaSimulator:
            sim = SunaSimulator(**self._kwargs)
            await sim.start()
            return sim

        self.sim = asyncio.run_coroutine_threadsafe(boot(), self._loop).result(timeout=30)
        return self

    def stop(self) -> None:
        """Stop the server, the loop and the thread."""
        if self.sim is not None:
            asyncio.run_coroutine_threadsafe(self.sim.close(), self._loop).result(timeout=30)
            self.sim = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """The server's URL."""
        assert self.sim is not None, "SimulatorThread not started"
        return self.sim.base_url

    def stats(self) -> SimStats:
        """Counters, read on the server's loop."""
        assert self.sim is not None, "SimulatorThread not started"
        sim = self.sim
        return self._call(sim.stats)  # type: ignore[no-any-return]

    def set_faults(self, faults: Faults | Mapping[str, Any]) -> None:
        """Replace every fault, on the server's loop."""
        assert self.sim is not None, "SimulatorThread not started"
        sim = self.sim
        self._call(lambda: sim.set_faults(faults))

    def reset(self) -> None:
        """Forget everything, on the server's loop."""
        assert self.sim is not None, "SimulatorThread not started"
        self._call(self.sim.reset)
