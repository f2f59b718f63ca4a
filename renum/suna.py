"""Build the Suna client a process uses, from settings."""

from __future__ import annotations

import logging

from renum.metrics import suna_request_hook
from renum.settings import Settings
from suna_client import (
    ApiKeyAuth,
    BreakerConfig,
    JwtAuth,
    PoolLimits,
    SunaAuth,
    SunaClient,
    SunaError,
)

__all__ = ["build_suna_client", "log_suna"]

_log = logging.getLogger("renum.suna")


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


async def log_suna(client: SunaClient, settings: Settings) -> None:
    """Say at start which Suna this process calls, which API it speaks, and as whom."""
    credential = ("an account API key (SUNA_API_KEY)" if settings.suna_api_key
                  else "tokens signed with SUNA_JWT_SECRET" if settings.suna_jwt_secret
                  else "no credentials")  # fmt: skip
    try:
        flavour = await client.flavour()
    except SunaError as exc:
        _log.warning("Suna at %s does not answer yet (%s); its API is probed again on first "
                     "use. Service account %s, with %s", client.base_url, exc.code,
                     settings.suna_account_id, credential)  # fmt: skip
        return
    _log.info("Suna at %s speaks %s (SUNA_API_FLAVOUR=%s); service account %s, with %s",
              client.base_url, flavour, settings.suna_api_flavour, settings.suna_account_id,
              credential)  # fmt: skip
