"""Identifiers: the development account, agents' UUIDs, and fresh ids.

Thread, project, run and message ids are ``uuid4`` (OS randomness), so that a
restarted simulator never reuses one. An account's scripted agents have
UUIDs derived from the account and the agent's name, so that they are the
same after a restart (an execution that froze one still finds it).
"""

from __future__ import annotations

import uuid

__all__ = ["DEV_ACCOUNT_ID", "DEV_JWT_SECRET", "agent_uuid", "fresh_id", "is_uuid"]

DEV_ACCOUNT_ID = "7c4e2a1d-3b5f-4e8a-9d6c-1f0b2a3c4d5e"
"""The account every simulator knows (tokens minted by ``SunaSimulator.token``)."""

DEV_JWT_SECRET = "suna-sim-development-jwt-secret-not-for-production"
"""The simulator's default token secret (a test server: not a secret)."""

_AGENTS = uuid.UUID("5b2d7f0e-8a41-4c3e-9f6a-2e1d0c9b8a77")


def fresh_id() -> str:
    """A new random UUID, unique across restarts."""
    return str(uuid.uuid4())


def agent_uuid(account_id: str, name: str) -> str:
    """The UUID of scripted agent ``name`` in ``account_id`` (stable across restarts)."""
    return str(uuid.uuid5(_AGENTS, f"{account_id}:{name}"))


def is_uuid(value: str) -> bool:
    """Whether PostgreSQL would read ``value`` as a uuid."""
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
