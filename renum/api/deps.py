"""Dependency aliases for routes: resources built once, and the caller's identity."""

from __future__ import annotations

from typing import Annotated, Any

import redis.asyncio as aioredis
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from renum.auth import Principal, verify_token
from renum.errors import AuthenticationError
from renum.resources import Resources
from renum.settings import Settings
from renum.suna_accounts import SunaAccounts

__all__ = ["CurrentUser", "PoolDep", "RedisDep", "ResourcesDep", "SettingsDep", "SunaAccountsDep"]

_bearer = HTTPBearer(auto_error=False, description="A JWT whose `sub` is the user id.")


def _resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


def _settings(request: Request) -> Settings:
    return _resources(request).settings


def _pool(request: Request) -> Any:
    return _resources(request).pool


def _redis(request: Request) -> aioredis.Redis:
    return _resources(request).redis


def _suna_accounts(request: Request) -> SunaAccounts:
    accounts: SunaAccounts = request.app.state.suna_accounts
    return accounts


def _current_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise AuthenticationError("This route needs 'Authorization: Bearer <token>'")
    if credentials.scheme.lower() != "bearer":
        raise AuthenticationError("Only bearer tokens are accepted")
    return verify_token(credentials.credentials, _settings(request))


ResourcesDep = Annotated[Resources, Depends(_resources)]
SettingsDep = Annotated[Settings, Depends(_settings)]
PoolDep = Annotated[Any, Depends(_pool)]
RedisDep = Annotated[aioredis.Redis, Depends(_redis)]
CurrentUser = Annotated[Principal, Depends(_current_user)]
SunaAccountsDep = Annotated[SunaAccounts, Depends(_suna_accounts)]
