"""Users' provider keys: store, list (masked, never the value), delete.

An admin may manage another user's keys with ``?user_id=``; nobody else can.
Storing a key announces it on Redis so executions waiting for it resume.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import BaseModel, Field
from redis.exceptions import RedisError

from renum.api.deps import CurrentUser, PoolDep, RedisDep, SettingsDep
from renum.auth import Principal
from renum.errors import NotFoundError
from renum.redis_keys import KEYS_CHANNEL
from renum.vault import MAX_VALUE_CHARS, SERVICE_PATTERN, delete_key, list_keys, put_key

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["keys"])

_log = logging.getLogger("renum.api.keys")

Service = Annotated[
    str,
    Path(pattern=SERVICE_PATTERN, description="Service name; sent as `X-API-Key-<service>`",
         examples=["openai"]),
]  # fmt: skip
ForUser = Annotated[
    str | None,
    Query(min_length=1, max_length=255, description="Admins only: manage this user's keys"),
]


class KeyIn(BaseModel):
    """A key to store. The value is write-only: no route ever returns it."""

    value: str = Field(
        min_length=1,
        max_length=MAX_VALUE_CHARS,
        pattern=r"^[\x21-\x7e]+$",
        description="The key, printable ASCII without spaces (it travels as an HTTP header)",
    )


class KeyOut(BaseModel):
    """A stored key, masked."""

    service: str
    last4: str = Field(description="The value's last four characters ('' for short values)")
    key_version: str = Field(description="Id of the master key that seals it")
    created_at: datetime
    updated_at: datetime


def _owner(user: Principal, user_id: str | None) -> str:
    if user_id is None or user_id == user.user_id:
        return user.user_id
    user.require_admin()
    return user_id


def _out(row: object) -> KeyOut:
    r: dict[str, object] = dict(row)  # type: ignore[call-overload]
    return KeyOut.model_validate({**r, "key_version": r["key_id"]})


@router.put(
    "/keys/{service}",
    response_model=KeyOut,
    summary="Store (or replace) a provider key",
    responses={201: {"description": "Stored a new key"}, 200: {"description": "Replaced"}},
)
async def put(
    service: Service, body: KeyIn, user: CurrentUser, pool: PoolDep, redis: RedisDep,
    settings: SettingsDep, response: Response, user_id: ForUser = None,
) -> KeyOut:  # fmt: skip
    """Encrypt and store the key; executions waiting for it resume within seconds."""
    owner = _owner(user, user_id)
    row, created = await put_key(pool, settings.key_ring, owner, service, body.value)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    try:
        await redis.publish(KEYS_CHANNEL, owner)
    except RedisError as exc:  # waiting executions still see it on their next heartbeat
        _log.warning("could not announce a stored key: %s", type(exc).__name__)
    return _out(row)


@router.get("/keys", response_model=list[KeyOut], summary="List your keys (masked)")
async def get_keys(user: CurrentUser, pool: PoolDep, user_id: ForUser = None) -> list[KeyOut]:
    """Service, last four characters, master key version and timestamps; never the value."""
    return [_out(r) for r in await list_keys(pool, _owner(user, user_id))]


@router.delete("/keys/{service}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a key")
async def remove_key(
    service: Service, user: CurrentUser, pool: PoolDep, user_id: ForUser = None
) -> Response:
    """Delete the key; 404 when there is none."""
    if not await delete_key(pool, _owner(user, user_id), service):
        raise NotFoundError(f"No {service!r} key is stored")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
