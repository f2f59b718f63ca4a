"""Admin routes for tests and benchmarks, under ``/_sim`` (no auth: test server).

``GET /_sim/stats`` counters · ``GET|POST /_sim/faults`` read or replace the
faults · ``POST /_sim/reset`` forget everything · ``GET /_sim/runs/{rid}`` one
run with its ``done_ts`` · ``GET /_sim/agents`` the scripted agents and an
account's Suna agents (UUIDs, names).
"""

from __future__ import annotations

from aiohttp import web
from pydantic import ValidationError

from .faults import Faults
from .http import CORE, ApiError, json_body, reply
from .ids import DEV_ACCOUNT_ID

__all__ = ["add_admin_routes"]


async def stats(request: web.Request) -> web.Response:
    """Every counter (see :class:`SimStats`)."""
    return reply(request.app[CORE].stats().model_dump())


async def get_faults(request: web.Request) -> web.Response:
    """The faults in force."""
    return reply(request.app[CORE].faults.faults.model_dump())


async def set_faults(request: web.Request) -> web.Response:
    """Replace every fault with the body (a :class:`Faults` document)."""
    try:
        faults = Faults.model_validate(await json_body(request))
    except ValidationError as exc:
        raise ApiError(422, exc.errors(include_url=False, include_context=False)) from None
    request.app[CORE].faults.set(faults)
    return reply(faults.model_dump())


async def reset(request: web.Request) -> web.Response:
    """Forget threads, runs, counters and faults."""
    request.app[CORE].reset()
    return reply({"status": "reset"})


async def run_info(request: web.Request) -> web.Response:
    """One run as the simulator sees it, with ``done_ts`` (``time.time()``)."""
    run = request.app[CORE].runs.get(request.match_info["rid"])
    if run is None:
        raise ApiError(404, "Agent run not found")
    return reply(run.info())


async def agents(request: web.Request) -> web.Response:
    """The scripted agents, the default one, and ``suna_agents``: the agents of
    ``?account=`` (the development account by default) as Suna lists them."""
    core = request.app[CORE]
    account = request.query.get("account", DEV_ACCOUNT_ID)
    book = core.agents.model_dump(mode="json")
    return reply({**book, "suna_agents": [a.row() for a in core.agents_of(account)]})


def add_admin_routes(app: web.Application) -> None:
    """Mount the ``/_sim`` routes."""
    app.router.add_get("/_sim/stats", stats)
    app.router.add_get("/_sim/faults", get_faults)
    app.router.add_post("/_sim/faults", set_faults)
    app.router.add_post("/_sim/reset", reset)
    app.router.add_get("/_sim/runs/{rid}", run_info)
    app.router.add_get("/_sim/agents", agents)
