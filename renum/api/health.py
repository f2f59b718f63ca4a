"""Health: is this process able to reach PostgreSQL and Redis? And how is Suna?

Suna's state is reported beside the checks without deciding the status: an
API process does not call Suna, and a Suna outage is waited out by the
workers, not a reason to take the API out of a load balancer.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from renum.api.deps import ResourcesDep
from renum.errors import problem_response
from suna_client import SunaError, probe

__all__ = ["router"]

router = APIRouter(tags=["health"])

#: How long one dependency check may take before it counts as down.
CHECK_TIMEOUT_S = 2.0
#: How long Suna's reported state is reused (health checks come often; Suna is not ours).
SUNA_STATE_TTL_S = 15.0
_suna_state: dict[str, tuple[float, dict[str, str]]] = {}


async def suna_state(base_url: str) -> dict[str, str]:
    """``{"status": "ok", "flavour": …}`` or ``{"status": "down", "detail": …}``, cached."""
    cached = _suna_state.get(base_url)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    try:
        async with aiohttp.ClientSession() as session:
            flavour, _ = await probe(session, base_url, timeout_s=CHECK_TIMEOUT_S)
        state = {"status": "ok", "flavour": flavour}
    except SunaError as exc:
        state = {"status": "down", "detail": str(exc)[:300]}
    _suna_state[base_url] = (time.monotonic() + SUNA_STATE_TTL_S, state)
    return state


async def _check(probe: Any) -> str:
    try:
        await asyncio.wait_for(probe, CHECK_TIMEOUT_S)
    except Exception as exc:
        return f"down ({type(exc).__name__})"
    return "ok"


@router.get(
    "/healthz",
    summary="Liveness and dependency health",
    responses={
        200: {"description": "PostgreSQL and Redis answer"},
        503: {"description": "PostgreSQL or Redis is down (problem+json)"},
    },
)
async def healthz(resources: ResourcesDep) -> JSONResponse:
    """Answer 200 when PostgreSQL and Redis both answer, else 503 naming which is down.

    ``suna`` says whether Suna answers and which API it speaks (cached 15 s); it never
    makes the answer a 503.
    """
    postgres, redis, suna = await asyncio.gather(
        _check(resources.pool.fetchval("SELECT 1")),
        _check(resources.redis.ping()),
        suna_state(resources.settings.suna_base_url),
    )
    checks = {"postgres": postgres, "redis": redis}
    if all(v == "ok" for v in checks.values()):
        return JSONResponse({"status": "ok", "checks": checks, "suna": suna})
    down = ", ".join(k for k, v in checks.items() if v != "ok")
    return problem_response(
        503,
        "service_unavailable",
        f"Not healthy: {down} down",
        instance="/healthz",
        extra={"checks": checks, "suna": suna},
    )
