"""Users' provider keys: store, list (masked, never the value), delete.

The service ``suna`` is special: its value is the user's own Suna account API key
(``pk_…:sk_…``), checked with Suna when stored; executions launched while it is
stored call Suna as that account.

An admin may manage another user's keys with ``?user_id=``; nobody else can.
Storing a key announces it on Redis so executions waiting for it resume.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import BaseModel, Field
from redis.exceptions import RedisError

from renum.api.deps import CurrentUser, PoolDep, RedisDep, SettingsDep, SunaAccountsDep
from renum.auth import Principal
from renum.dispatch import wake_parked
from renum.errors import NotFoundError, RequestValidationProblem
from renum.redis_keys import KEYS_CHANNEL
from renum.suna_accounts import SUNA_KEY, SUNA_KEY_SERVICE, SunaAccounts
from renum.vault import MAX_VALUE_CHARS, SERVICE_PATTERN, delete_key, list_keys, put_key
from suna_client import SunaError, SunaForbiddenError, SunaUnauthorizedError

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
    settings: SettingsDep, accounts: SunaAccountsDep, response: Response,
    user_id: ForUser = None,
) -> KeyOut:  # fmt: skip
    """Encrypt and store the key; executions waiting for it resume within seconds.

    `suna`: your own Suna account's API key (`pk_…:sk_…`); Suna is asked whether it
    accepts it, and executions you launch from now on run as that account."""
    owner = _owner(user, user_id)
    if service == SUNA_KEY_SERVICE:
        await _check_suna_key(accounts, owner, body.value)
    row, created = await put_key(pool, settings.key_ring, owner, service, body.value)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    try:  # parked executions are dispatched again; driven ones hear the notice
        await wake_parked(pool, redis, owner, settings.user_concurrency)
        await redis.publish(KEYS_CHANNEL, owner)
    except (RedisError, OSError) as exc:  # heartbeats and the sweeper see the key soon
        _log.warning("could not announce a stored key: %s", type(exc).__name__)
    return _out(row)


#: Longest the check of a Suna account key waits for Suna (then it is stored unchecked).
SUNA_KEY_CHECK_S = 5.0


def _invalid_suna_key(message: str) -> RequestValidationProblem:
    return RequestValidationProblem(f"The Suna account key is not usable: {message}", errors=[
        {"path": "/body/value", "code": "invalid_suna_key", "message": message}])  # fmt: skip


async def _check_suna_key(accounts: SunaAccounts, user_id: str, value: str) -> None:
    """422 unless ``value`` is shaped like a Suna account API key and Suna accepts it (a Suna
    that cannot say in time is given the benefit of the doubt, and logged)."""
    if not SUNA_KEY.fullmatch(value):
        raise _invalid_suna_key("a Suna account API key looks like pk_…:sk_…")
    try:
        await asyncio.wait_for(accounts.user(user_id, value).client.list_agents(limit=1),
                               SUNA_KEY_CHECK_S)  # fmt: skip
    except SunaUnauthorizedError:
        raise _invalid_suna_key("Suna refused it (401): check that it is a live key of "
                                "your Suna account") from None
    except (SunaError, TimeoutError) as exc:  # custom agents off (403) proves the key works
        if not isinstance(exc, SunaForbiddenError):
            _log.warning("could not check a Suna account key with Suna: %s",
                         getattr(exc, "code", type(exc).__name__))  # fmt: skip


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
