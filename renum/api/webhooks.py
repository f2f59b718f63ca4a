"""Webhooks: the caller's signing secret, and an execution's delivery log."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from renum.api.deps import CurrentUser, PoolDep
from renum.store import get_execution
from renum.webhooks import SIGNATURE_HEADER, deliveries, rotate_secret, user_secret

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["webhooks"])

_SECRET_EXAMPLE: dict[str, Any] = {
    "secret": "whsec_3q2+7w…",
    "header": SIGNATURE_HEADER,
    "scheme": "t=<unix seconds>,v1=<hex HMAC-SHA256 of '<t>.<body>'>",
}


class WebhookSecret(BaseModel):
    """The secret your webhook receiver verifies signatures with."""

    secret: str = Field(description="HMAC-SHA256 key (keep it server-side)")
    header: str = Field(description="The header that carries the signature")
    scheme: str = Field(description="How the header is built")

    model_config = {"json_schema_extra": {"examples": [_SECRET_EXAMPLE]}}


def _secret_out(secret: str) -> WebhookSecret:
    return WebhookSecret(
        secret=secret, header=_SECRET_EXAMPLE["header"], scheme=_SECRET_EXAMPLE["scheme"]
    )


@router.get("/webhooks/secret", response_model=WebhookSecret, summary="Your webhook signing secret")
async def read_secret(user: CurrentUser, pool: PoolDep) -> WebhookSecret:
    """Created on first read; every delivery to your URLs is signed with it."""
    return _secret_out(await user_secret(pool, user.user_id))


@router.post(
    "/webhooks/secret/rotate",
    response_model=WebhookSecret,
    summary="Rotate your webhook signing secret",
)
async def rotate(user: CurrentUser, pool: PoolDep) -> WebhookSecret:
    """Replace the secret at once; deliveries from now on are signed with the new one."""
    return _secret_out(await rotate_secret(pool, user.user_id))


@router.get(
    "/executions/{execution_id}/webhooks",
    summary="The execution's webhook deliveries",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "items": [
                            {
                                "id": 1,
                                "url": "https://example.com/hook",
                                "event": "execution.completed",
                                "state": "delivered",
                                "attempts": 2,
                                "last_error": None,
                                "next_attempt_at": None,
                                "delivered_at": "2026-01-01T12:00:03+00:00",
                                "attempt_log": [
                                    {
                                        "attempt": 1,
                                        "started_at": "2026-01-01T12:00:00+00:00",
                                        "duration_ms": 41,
                                        "response_status": 503,
                                        "error": "HTTP 503: busy",
                                    },
                                    {
                                        "attempt": 2,
                                        "started_at": "2026-01-01T12:00:03+00:00",
                                        "duration_ms": 12,
                                        "response_status": 200,
                                        "error": None,
                                    },
                                ],
                            }
                        ]
                    }
                }
            }
        }
    },
)
async def execution_webhooks(execution_id: uuid.UUID, user: CurrentUser, pool: PoolDep) -> Any:
    """Each delivery owed for this execution (one per terminal status), with every attempt."""
    await get_execution(pool, user.user_id, execution_id)
    return {"items": await deliveries(pool, execution_id)}
