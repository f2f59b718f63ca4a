"""Identifiers: the development account, and fresh ids.

Thread, project, run and message ids are ``uuid4`` (OS randomness), so that a
restarted simulator never reuses one.
"""

from __future__ import annotations

import uuid

__all__ = ["DEV_ACCOUNT_ID", "fresh_id"]

DEV_ACCOUNT_ID = "7c4e2a1d-3b5f-4e8a-9d6c-1f0b2a3c4d5e"
"""The account every simulator knows (tokens minted by ``SunaSimulator.token``)."""


def fresh_id() -> str:
    """A new random UUID, unique across restarts."""
    return str(uuid.uuid4())
