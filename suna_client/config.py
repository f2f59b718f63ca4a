"""Typed configuration of the Suna client, every default named in one place.

Each knob is a field of a frozen dataclass with its own docstring, so that a
reader sees the unit (``_s`` is seconds) and why the default is what it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "DEFAULT_BREAKER",
    "DEFAULT_POOL",
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUTS",
    "BreakerConfig",
    "PoolLimits",
    "RetryPolicy",
    "Timeouts",
]


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Time limits of the client's calls."""

    connect_s: float = 5.0
    """Opening a TCP connection to Suna; beyond it the request provably never left."""

    request_s: float = 30.0
    """A whole non-streaming request (connect, send, read the body)."""

    stream_idle_s: float = 60.0
    """Silence tolerated on an open run stream before it counts as broken.

    Later Suna versions ping every 5 s; older ones are silent while a tool runs,
    and a broken stream only costs a reconnect (the replay is de-duplicated)."""

    run_s: float = 3600.0
    """Default total budget of :meth:`SunaClient.wait_for_run`."""

    confirm_s: float = 5.0
    """After the stream reports the end of a run, how long ``GET agent-run`` may
    still say ``running`` (Suna writes the status after it pushes the event)."""

    late_run_s: float = 3.0
    """How long after a start a run may still be missing (404, an empty run list):
    ``v1`` writes the run's row in the background after answering the start."""

    probe_s: float = 10.0
    """The flavour probe's time limit per request."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When and how often a failed call is tried again (tenacity underneath)."""

    max_attempts: int = 4
    """Attempts per call, the first included."""

    backoff_initial_s: float = 0.1
    """Wait before the second attempt; doubles each time."""

    backoff_max_s: float = 5.0
    """Longest wait between two attempts."""

    jitter_s: float = 0.1
    """Uniform random extra wait, so that many clients do not retry in step."""

    retry_after_max_s: float = 30.0
    """Cap on a server's ``Retry-After``; a longer one is not waited for."""

    retry_statuses: frozenset[int] = field(default_factory=lambda: frozenset({502, 503, 504}))
    """HTTP statuses that a safe (read or stop) call retries."""

    retry_rate_limited_starts: bool = False
    """Whether a start refused with 429 is retried. Off: the run limit is the
    caller's to queue against (the error carries ``running_count``/``limit``)."""

    stream_reconnects: int = 3
    """Consecutive broken streams tolerated before waiting falls back to polling."""

    poll_initial_s: float = 0.25
    """First interval of the polling fallback; doubles up to ``poll_max_s``."""

    poll_max_s: float = 5.0
    """Longest interval of the polling fallback."""


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """The circuit breaker guarding one Suna base URL."""

    enabled: bool = True
    """Off: every call goes through whatever happened before."""

    failure_threshold: int = 5
    """Consecutive failures (connection, timeout, 5xx, malformed) that open it."""

    cooldown_s: float = 10.0
    """Time open before one probe call is let through (half-open)."""


@dataclass(frozen=True, slots=True)
class PoolLimits:
    """The connection pool of a session the client creates itself."""

    limit: int = 2048
    """Connections open at once (0: no cap); every waiting run holds one for its
    stream, so a process waiting on more runs than this queues the rest for a
    connection (a wait that is not counted as a Suna failure)."""

    limit_per_host: int = 0
    """Per-host cap (0: only ``limit`` applies; a client speaks to one host)."""

    keepalive_s: float = 2.0
    """How long an idle connection is kept for reuse: well under the server's
    (uvicorn closes idle connections after 5 s), so that a reused connection is
    seldom one the server is closing."""


DEFAULT_TIMEOUTS = Timeouts()
DEFAULT_RETRY = RetryPolicy()
DEFAULT_BREAKER = BreakerConfig()
DEFAULT_POOL = PoolLimits()
