"""Who is calling: Suna's account resolution from a JWT or an account API key.

``X-API-Key: pk_xxx:sk_xxx`` is looked up among the configured keys;
otherwise ``Authorization: Bearer <JWT>`` (or ``?token=`` on the stream
route) is decoded, and ``sub`` is the account: its HS256 signature is
checked with the configured secret where the flavour verifies signatures
(``v1``), and not at all before (``api-2025`` decoded without checking).
The ``X-API-Key-<service>`` headers are users' provider keys, not
credentials: they are collected for the run, never used to authenticate.
"""

from __future__ import annotations

import time

import jwt
from aiohttp import web

from .config import SimConfig
from .http import ApiError

__all__ = ["account_of", "key_headers", "mint_token"]

_UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}
_KEY_PREFIX = "x-api-key-"


def _unauthorized(detail: str) -> ApiError:
    return ApiError(401, detail, dict(_UNAUTHORIZED))


def account_of(
    request: web.Request, config: SimConfig, *, verify: bool, query_token: bool = False
) -> str:
    """The caller's account id, or Suna's 401 (``verify``: check the token's signature)."""
    api_key = request.headers.get("X-API-Key")
    if api_key is not None:
        public, sep, secret = api_key.partition(":")
        if not (public.startswith("pk_") and sep and secret.startswith("sk_")):
            raise _unauthorized("Invalid API key format. Expected format: pk_xxx:sk_xxx")
        account = config.api_keys.get(api_key)
        if account is None:
            raise _unauthorized("Invalid API key")
        return account
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else ""
    if not token and query_token:
        token = request.query.get("token", "")
    if not token:
        raise _unauthorized("No valid authentication credentials found")
    try:
        if verify:
            claims = jwt.decode(
                token, config.jwt_secret, algorithms=["HS256"], options={"verify_aud": False}
            )
        else:
            claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise _unauthorized("Invalid token") from None
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise _unauthorized("Invalid token payload")
    return sub


def key_headers(request: web.Request) -> dict[str, str]:
    """The ``X-API-Key-<service>`` headers of ``request``: service → value."""
    return {
        name[len(_KEY_PREFIX):].lower(): value
        for name, value in request.headers.items()
        if name.lower().startswith(_KEY_PREFIX) and len(name) > len(_KEY_PREFIX)
    }


def mint_token(secret: str, sub: str, *, ttl_s: int = 3600) -> str:
    """An HS256 token for account ``sub`` (for tests and demos)."""
    now = int(time.time())
    claims = {"sub": sub, "iat": now, "exp": now + ttl_s, "role": "authenticated"}
    return jwt.encode(claims, secret, algorithm="HS256")
