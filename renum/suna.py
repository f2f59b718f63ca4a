"""Build the Suna client a process uses, from settings."""

from __future__ import annotations

from renum.metrics import suna_request_hook
from renum.settings import Settings
from suna_client import ApiKeyAuth, BreakerConfig, JwtAuth, PoolLimits, SunaAuth, SunaClient

__all__ = ["build_suna_client"]


def build_suna_client(settings: Settings) -> SunaClient:
    """A client of ``SUNA_BASE_URL`` with the service credential from settings.

    Its requests and circuit-breaker state are counted in :mod:`renum.metrics`;
    its connection cap and breaker come from ``SUNA_MAX_CONNECTIONS`` and
    ``SUNA_BREAKER_*``.
    """
    auth: SunaAuth | None = None
    if settings.suna_api_key:
        auth = ApiKeyAuth(settings.suna_api_key)
    elif settings.suna_jwt_secret:
        auth = JwtAuth(settings.suna_jwt_secret, settings.suna_account_id)
    ref: list[SunaClient] = []
    client = SunaClient(
        settings.suna_base_url,
        auth=auth,
        on_request=suna_request_hook(ref),
        pool=PoolLimits(limit=settings.suna_max_connections),
        flavour=settings.suna_api_flavour,
        breaker=BreakerConfig(
            failure_threshold=settings.suna_breaker_failures,
            cooldown_s=settings.suna_breaker_cooldown_s,
        ),
    )
    ref.append(client)
    return client
