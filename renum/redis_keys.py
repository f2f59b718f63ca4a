"""Every Redis key Renum uses, in one block.

Redis holds only what can be rebuilt from PostgreSQL: the dispatch queue (the
sweeper re-enqueues), the live event streams (replayed from the audit table),
the shared context (rebuilt from its snapshot), budget counters and the launch
rate buckets (a lost bucket starts full).
"""

from __future__ import annotations

__all__ = [
    "BUDGETS_CHANNEL",
    "CANCEL_CHANNEL",
    "EXECUTION_QUEUE",
    "KEYS_CHANNEL",
    "WORKER_GROUP",
    "budget_holds_key",
    "budget_spent_key",
    "context_key",
    "events_key",
    "launch_bucket_key",
]

#: Stream of execution ids to drive, read by the `workers` consumer group.
EXECUTION_QUEUE = "renum:queue:executions"
#: The consumer group every worker joins.
WORKER_GROUP = "workers"
#: Pub/sub channel announcing cancel requests (payload: execution id).
CANCEL_CHANNEL = "renum:cancel"
#: Pub/sub channel announcing that a user stored a key (payload: user id), so
#: executions waiting for credentials resume at once.
KEYS_CHANNEL = "renum:keys"
#: Pub/sub channel announcing that a user's monthly budget was set or removed
#: (payload: user id), so workers read it again before the next step.
BUDGETS_CHANNEL = "renum:budgets"


def context_key(execution_id: str) -> str:
    """Hash holding an execution's shared context (one JSON field per key)."""
    return f"renum:ctx:{execution_id}"


def events_key(execution_id: str) -> str:
    """Stream of an execution's events; entry ids are ``0-<seq>``."""
    return f"renum:events:{execution_id}"


def budget_spent_key(scope: str) -> str:
    """Micro-dollars spent in a budget scope (``execution:<id>``, ``user:<id>:<YYYY-MM>``).

    Rebuilt from ``usage_log`` when missing; it expires now and then so that it is.
    """
    return f"renum:budget:{scope}:spent"


def budget_holds_key(scope: str) -> str:
    """Hash of a budget scope's reservations: hold id → ``<micro-dollars>:<expires ms>``."""
    return f"renum:budget:{scope}:holds"


def launch_bucket_key(user_id: str) -> str:
    """Hash of a user's launch token bucket: ``tokens`` and ``at`` (ms), see renum.ratelimit."""
    return f"renum:launches:{user_id}"
