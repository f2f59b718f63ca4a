"""Identifiers: the development account, UUID checks, stable agent ids.

Thread, project, run and message ids are ``uuid4`` (OS randomness), so that a
restarted simulator never reuses one; agent ids of scripted agents are
``uuid5`` of a fixed namespace and ``account:name``, so that they are stable
across restarts.
"""

from __future__ import annotations

import uuid

__all__ = ["AGENT_NAMESPACE", "DEV_ACCOUNT_ID", "agent_uuid", "fresh_id", "is_uuid"]

DEV_ACCOUNT_ID = "7c4e2a1d-3b5f-4e8a-9d6c-1f0b2a3c4d5e"
"""The account every simulator knows, owner of the shipped agents."""

AGENT_NAMESPACE = uuid.UUID("5a1f3c9e-8b2d-4f60-a7e4-0c9d2b1e6f38")


def is_uuid(value: str) -> bool:
    """Whether ``value`` parses as a UUID (what PostgreSQL's ``uuid`` accepts)."""
    try:
        uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return False
    return True


def agent_uuid(account_id: str, name: str) -> str:
    """The stable id of agent ``name`` of ``account_id``."""
    return str(uuid.uuid5(AGENT_NAMESPACE, f"{account_id}:{name}"))


def fresh_id() -> str:
    """A new random UUID, unique across restarts."""
    return str(uuid.uuid4())
