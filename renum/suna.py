"""Build the Suna client a process uses, from settings."""

from __future__ import annotations

from renum.settings import Settings
from suna_client import ApiKeyAuth, JwtAuth, SunaAuth, SunaClient

__all__ = ["build_suna_client"]


def build_suna_client(settings: Settings) -> SunaClient:
    """A client of ``SUNA_BASE_URL`` with the service credential from settings."""
    auth: SunaAuth | None = None
    if settings.suna_api_key:
        auth = ApiKeyAuth(settings.suna_api_key)
    elif settings.suna_jwt_secret:
        auth = JwtAuth(settings.suna_jwt_secret, settings.suna_account_id)
    return SunaClient(settings.suna_base_url, auth=auth)
