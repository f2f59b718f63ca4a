"""Every /v1 route needs a valid bearer token; bad tokens are 401 problem+json."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from renum.auth import parse_ttl, verify_token
from renum.errors import AuthenticationError
from renum.settings import Settings

SECRET = "s" * 40


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": "alice", "iat": now, "exp": now + 3600}  # minted at collection
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _hs(**overrides: Any) -> str:
    return jwt.encode(_claims(**overrides), SECRET, algorithm="HS256")


@pytest.fixture(scope="module")
def rsa_keys() -> tuple[bytes, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public.decode()


def test_valid_hs256_token_gives_the_user() -> None:
    principal = verify_token(_hs(), Settings(RENUM_JWT_SECRET=SECRET))
    assert principal.user_id == "alice"
    assert not principal.is_admin


@pytest.mark.parametrize("role_claims", [{"role": "admin"}, {"app_metadata": {"role": "admin"}}])
def test_admin_role(role_claims: dict[str, Any]) -> None:
    assert verify_token(_hs(**role_claims), Settings(RENUM_JWT_SECRET=SECRET)).is_admin


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (_hs(exp=int(time.time()) - 120), "expired"),
        (_hs(nbf=int(time.time()) + 3600), "not valid yet"),
        (jwt.encode(_claims(), "another-secret-" * 3, algorithm="HS256"), "does not verify"),
        (_hs(sub=None), "'sub'"),
        (_hs(exp=None), "'exp'"),
        (_hs(sub=""), "user id"),
        (jwt.encode(_claims(), None, algorithm="none"), "'none'"),
        ("not-a-jwt", "malformed"),
        (jwt.encode(_claims(), SECRET, algorithm="HS512"), "'HS512'"),
        (_hs(exp=str(int(time.time()) + 86400)), "'exp' claim is not a number"),
        (_hs(exp=int(time.time()) + 400 * 86400), "longer than"),
        (_hs(sub="alice\nadmin"), "user id"),
    ],
    ids=[
        "expired",
        "nbf",
        "signature",
        "no-sub",
        "no-exp",
        "empty-sub",
        "alg-none",
        "garbage",
        "alg-not-allowed",
        "exp-as-text",
        "exp-too-far",
        "sub-control-char",
    ],
)
def test_bad_tokens_are_refused(token: str, reason: str) -> None:
    with pytest.raises(AuthenticationError) as info:
        verify_token(token, Settings(RENUM_JWT_SECRET=SECRET))
    assert reason in info.value.detail


def test_rs256_with_public_key(rsa_keys: tuple[bytes, str]) -> None:
    private, public = rsa_keys
    settings = Settings(RENUM_JWT_PUBLIC_KEY=public)
    token = jwt.encode(_claims(), private, algorithm="RS256")
    assert verify_token(token, settings).user_id == "alice"


def test_hs_rs_confusion_is_refused(rsa_keys: tuple[bytes, str]) -> None:
    """A token HMAC-signed with the public key must not pass as RS256 or HS256."""
    _, public = rsa_keys
    forged = _forge_hs_with(public)
    with pytest.raises(AuthenticationError):
        verify_token(forged, Settings(RENUM_JWT_PUBLIC_KEY=public))
    with pytest.raises(AuthenticationError):
        verify_token(forged, Settings(RENUM_JWT_PUBLIC_KEY=public, RENUM_JWT_SECRET=SECRET))


def _forge_hs_with(key: str) -> str:
    import base64
    import hashlib
    import hmac
    import json

    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64(json.dumps(_claims()).encode())
    signature = b64(hmac.new(key.encode(), header + b"." + payload, hashlib.sha256).digest())
    return (header + b"." + payload + b"." + signature).decode()


def test_parse_ttl() -> None:
    assert parse_ttl("90") == 90
    assert parse_ttl("30m") == 1800
    assert parse_ttl("1h") == 3600
    assert parse_ttl("7d") == 7 * 86400
    for bad in ("", "abc", "-5", "0", "1w"):
        with pytest.raises(ValueError):
            parse_ttl(bad)


async def test_routes_need_a_token(api: Any) -> None:
    async with api.http.get(api.url("/v1/me")) as response:
        assert response.status == 401
        assert response.content_type == "application/problem+json"
        body = await response.json()
        assert body["code"] == "unauthenticated"
        assert response.headers["WWW-Authenticate"] == "Bearer"
    async with api.http.get(api.url("/v1/me"), headers={"Authorization": "Basic abc"}) as response:
        assert response.status == 401
    bad = {"Authorization": "Bearer " + jwt.encode(_claims(), None, algorithm="none")}
    async with api.http.get(api.url("/v1/me"), headers=bad) as response:
        assert response.status == 401
        assert "Traceback" not in await response.text()


async def test_me_with_a_token(api: Any) -> None:
    async with api.http.get(api.url("/v1/me"), headers=api.auth("bob", admin=True)) as response:
        assert response.status == 200
        assert await response.json() == {"user_id": "bob", "is_admin": True}
