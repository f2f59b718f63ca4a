"""Keep-alive: idle connections are dropped before Suna's server drops them."""

from __future__ import annotations

from suna_client import PoolLimits


def test_default_keepalive_is_under_uvicorns() -> None:
    assert PoolLimits().keepalive_s < 5.0  # uvicorn closes idle connections after 5 s
