"""Every Redis key Renum uses, in one block.

Redis holds only what can be rebuilt from PostgreSQL: the dispatch queue (the
sweeper re-enqueues), the live event streams (replayed from the audit table),
the shared context (rebuilt from its snapshot) and budget counters.
"""

from __future__ import annotations

__all__ = [
    "CANCEL_CHANNEL",
    "EXECUTION_QUEUE",
    "WORKER_GROUP",
    "context_key",
    "events_key",
]

#: Stream of execution ids to drive, read by the `workers` consumer group.
EXECUTION_QUEUE = "renum:queue:executions"
#: The consumer group every worker joins.
WORKER_GROUP = "workers"
#: Pub/sub channel announcing cancel requests (payload: execution id).
CANCEL_CHANNEL = "renum:cancel"


def context_key(execution_id: str) -> str:
    """Hash holding an execution's shared context (one JSON field per key)."""
    return f"renum:ctx:{execution_id}"


def events_key(execution_id: str) -> str:
    """Stream of an execution's events; entry ids are ``0-<seq>``."""
    return f"renum:events:{execution_id}"
