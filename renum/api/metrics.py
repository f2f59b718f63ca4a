"""`GET /metrics`: this process's Prometheus metrics (text exposition format)."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import Response

from renum import metrics
from renum.api.deps import RedisDep
from renum.engine.queue import ExecutionQueue

__all__ = ["router"]

router = APIRouter(tags=["metrics"])
_log = logging.getLogger("renum.api.metrics")


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def get_metrics(redis: RedisDep) -> Response:
    """Every metric of this process; the queue depth is read from Redis at scrape time."""
    try:
        metrics.QUEUE_DEPTH.set(await ExecutionQueue(redis).depth())
    except Exception as exc:  # a scrape must answer even when Redis does not
        _log.warning("queue depth unavailable: %s", type(exc).__name__)
    return Response(metrics.render(), media_type=metrics.CONTENT_TYPE_LATEST)
