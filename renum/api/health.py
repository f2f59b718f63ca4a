"""Health: is this process able to reach PostgreSQL and Redis?"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from renum.api.deps import ResourcesDep
from renum.errors import problem_response

__all__ = ["router"]

router = APIRouter(tags=["health"])

#: How long one dependency check may take before it counts as down.
CHECK_TIMEOUT_S = 2.0


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
    """Answer 200 when PostgreSQL and Redis both answer, else 503 naming which is down."""
    postgres, redis = await asyncio.gather(
        _check(resources.pool.fetchval("SELECT 1")),
        _check(resources.redis.ping()),
    )
    checks = {"postgres": postgres, "redis": redis}
    if all(v == "ok" for v in checks.values()):
        return JSONResponse({"status": "ok", "checks": checks})
    down = ", ".join(k for k, v in checks.items() if v != "ok")
    return problem_response(
        503,
        "service_unavailable",
        f"Not healthy: {down} down",
        instance="/healthz",
        extra={"checks": checks},
    )
