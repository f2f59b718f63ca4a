"""Credentials the client presents to Suna, and the per-call key headers.

Suna accepts ``Authorization: Bearer <JWT>`` (HS256, account id in ``sub``) or
``X-API-Key: pk_xxx:sk_xxx``. Users' provider keys travel only as
``X-API-Key-<service>`` headers; a service name must be non-empty
``[a-z0-9_-]`` so that no key can ever land in Suna's own ``X-API-Key``.
Every credential here prints as ``***``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any, Protocol

import jwt

__all__ = [
    "ApiKeyAuth",
    "BearerAuth",
    "JwtAuth",
    "SunaAuth",
    "key_headers",
]

_SERVICE = re.compile(r"[a-z0-9_-]+")
_MASK = "***"


class SunaAuth(Protocol):
    """Anything that yields Suna auth headers and the secrets to scrub."""

    def headers(self) -> dict[str, str]:
        """Headers to send with a request."""
        ...

    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in a log line or an error."""
        ...


class BearerAuth:
    """A fixed bearer token (a service JWT issued elsewhere, or a caller's)."""

    __slots__ = ("_token",)

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("BearerAuth needs a non-empty token")
        self._token = token

    def headers(self) -> dict[str, str]:
        """``Authorization: Bearer …``."""
        return {"Authorization": f"Bearer {self._token}"}

    def secrets(self) -> tuple[str, ...]:
        """The token."""
        return (self._token,)

    def __repr__(self) -> str:
        return f"BearerAuth({_MASK})"


class ApiKeyAuth:
    """A Suna account API key, ``pk_xxx:sk_xxx``, sent as ``X-API-Key``."""

    __slots__ = ("_key",)

    def __init__(self, key: str) -> None:
        public, sep, secret = key.partition(":")
        if not (public and sep and secret):
            raise ValueError("ApiKeyAuth needs a key shaped 'pk_xxx:sk_xxx'")
        self._key = key

    def headers(self) -> dict[str, str]:
        """``X-API-Key: pk_xxx:sk_xxx``."""
        return {"X-API-Key": self._key}

    def secrets(self) -> tuple[str, ...]:
        """The whole key and its secret half."""
        return (self._key, self._key.partition(":")[2])

    def __repr__(self) -> str:
        return f"ApiKeyAuth({self._key.partition(':')[0]}:{_MASK})"


class JwtAuth:
    """Service JWTs signed here with a shared HS256 secret, renewed before expiry."""

    __slots__ = ("_cached", "_expires", "_secret", "claims", "sub", "ttl_s")

    def __init__(
        self,
        secret: str,
        sub: str,
        *,
        ttl_s: float = 3600.0,
        claims: Mapping[str, Any] | None = None,
    ) -> None:
        """``claims`` are added to every token (e.g. ``{"aud": "authenticated"}``)."""
        if not secret or not sub:
            raise ValueError("JwtAuth needs a secret and a subject")
        self._secret = secret
        self.sub = sub
        self.ttl_s = ttl_s
        self.claims = dict(claims or {})
        self._cached = ""
        self._expires = 0.0

    def token(self) -> str:
        """A token valid for at least another tenth of its lifetime."""
        now = time.time()
        if now > self._expires - self.ttl_s / 10:
            exp = now + self.ttl_s
            claims = {"role": "authenticated", **self.claims, "sub": self.sub,
                      "iat": int(now), "exp": int(exp)}
            self._cached = jwt.encode(claims, self._secret, algorithm="HS256")
            self._expires = exp
        return self._cached

    def headers(self) -> dict[str, str]:
        """``Authorization: Bearer <fresh JWT>``."""
        return {"Authorization": f"Bearer {self.token()}"}

    def secrets(self) -> tuple[str, ...]:
        """The signing secret and the current token."""
        return (self._secret, self._cached) if self._cached else (self._secret,)

    def __repr__(self) -> str:
        return f"JwtAuth(sub={self.sub!r}, secret={_MASK})"


def key_headers(extra_keys: Mapping[str, str] | None) -> dict[str, str]:
    """``X-API-Key-<service>`` headers for users' provider keys.

    Raises ``ValueError`` (naming the service, never the value) on a service
    that is empty or outside ``[a-z0-9_-]`` and on an empty or multi-line value.
    """
    if not extra_keys:
        return {}
    out: dict[str, str] = {}
    for service, value in extra_keys.items():
        if not isinstance(service, str) or not _SERVICE.fullmatch(service):
            raise ValueError(f"invalid key service name {service!r}: use [a-z0-9_-]+")
        if not isinstance(value, str) or not value or "\r" in value or "\n" in value:
            raise ValueError(f"invalid key value for service {service!r}")
        out[f"X-API-Key-{service}"] = value
    return out
