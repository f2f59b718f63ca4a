"""Callers' identity: bearer JWTs as the Suna/Supabase side issues them.

HS256 with ``RENUM_JWT_SECRET``, optionally RS256 with ``RENUM_JWT_PUBLIC_KEY``.
The algorithm comes from an allow-list chosen by which keys are configured, so
``alg: none`` and HS/RS confusion never verify. ``exp`` and ``sub`` are
required; a ``role`` claim of ``admin`` (top level or in ``app_metadata``)
marks an administrator.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jwt

from renum.errors import AuthenticationError, PermissionDeniedError
from renum.settings import Settings

__all__ = ["Principal", "mint_token", "parse_ttl", "verify_token"]


@dataclass(frozen=True)
class Principal:
    """Who is calling: the user id (`sub`) and whether they are an admin."""

    user_id: str
    is_admin: bool = False

    def require_admin(self) -> None:
        """Raise 403 unless this caller is an administrator."""
        if not self.is_admin:
            raise PermissionDeniedError("This action needs the admin role")


def verify_token(token: str, settings: Settings) -> Principal:
    """Verify a bearer token and return its principal, or raise 401."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise AuthenticationError("The bearer token is malformed") from None
    alg = header.get("alg")
    if alg not in settings.jwt_algorithms:
        raise AuthenticationError(f"Tokens signed with {alg!r} are not accepted")
    key = settings.jwt_secret if alg == "HS256" else settings.jwt_public_key
    assert key is not None
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[alg],
            audience=settings.jwt_audience,
            options={"require": ["exp", "sub"], "verify_aud": settings.jwt_audience is not None},
            leeway=5,
        )
    except jwt.ExpiredSignatureError:
        raise AuthenticationError("The bearer token has expired") from None
    except jwt.ImmatureSignatureError:
        raise AuthenticationError("The bearer token is not valid yet") from None
    except jwt.MissingRequiredClaimError as exc:
        raise AuthenticationError(f"The bearer token lacks the {exc.claim!r} claim") from None
    except jwt.PyJWTError:
        raise AuthenticationError("The bearer token does not verify") from None
    exp = claims["exp"]
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise AuthenticationError("The bearer token's 'exp' claim is not a number")
    if exp - time.time() > settings.jwt_max_lifetime_s:
        raise AuthenticationError(
            f"The bearer token is valid for longer than {settings.jwt_max_lifetime_s:g} s "
            "(RENUM_JWT_MAX_LIFETIME_S)")  # fmt: skip
    sub = claims.get("sub")
    if (not isinstance(sub, str) or not sub.strip() or len(sub) > 256
            or any(ord(c) < 32 or ord(c) == 127 for c in sub)):  # fmt: skip
        raise AuthenticationError("The bearer token's 'sub' claim is not a user id")
    return Principal(user_id=sub, is_admin=_role(claims) == "admin")


def _role(claims: dict[str, Any]) -> str | None:
    if claims.get("role") == "admin":
        return "admin"
    app_metadata = claims.get("app_metadata")
    if isinstance(app_metadata, dict) and app_metadata.get("role") == "admin":
        return "admin"
    return None


def mint_token(secret: str, user_id: str, *, admin: bool = False, ttl_s: int = 3600) -> str:
    """Sign an HS256 token for development (`renum token`) and tests."""
    now = int(time.time())
    claims: dict[str, Any] = {"sub": user_id, "iat": now, "exp": now + ttl_s}
    if admin:
        claims["role"] = "admin"
    return jwt.encode(claims, secret, algorithm="HS256")


def parse_ttl(text: str) -> int:
    """Parse a duration such as ``90``, ``30m``, ``1h`` or ``7d`` into seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = text.strip().lower()
    try:
        value = int(text[:-1]) * units[text[-1]] if text and text[-1] in units else int(text)
    except ValueError:
        raise ValueError(f"not a duration: {text!r} (try 90s, 30m, 1h, 7d)") from None
    if value <= 0:
        raise ValueError("a duration must be positive")
    return value
