"""Which failures are the infrastructure's (retry later) rather than the execution's.

A PostgreSQL restart, a dropped Redis connection or a network blip must never
be recorded as a step or execution failure: the driver stops, releases its
lease, and the execution is taken over once the service is back. Anything
else that escapes is a bug, and fails the execution instead of looping.
"""

from __future__ import annotations

import asyncpg
from redis.exceptions import RedisError

__all__ = ["is_infrastructure_error"]

_INFRA = (
    OSError,
    TimeoutError,
    RedisError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
)


def is_infrastructure_error(exc: BaseException) -> bool:
    """True for errors of PostgreSQL, Redis or the network, not of the execution."""
    return isinstance(exc, _INFRA)
