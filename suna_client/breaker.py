"""A circuit breaker for one Suna base URL.

Failures are counted in a row for the whole URL and for each route: a route that
keeps failing (starts answered 5xx) opens the breaker even while other routes
(reads of the same Suna) succeed in between.

closed → (``failure_threshold`` consecutive failures) → open → (after
``cooldown_s``) → half_open: one probe call goes through; its success closes
the breaker, its failure opens it again for another cool-down. While open (or
while the probe is out) calls fail fast with :class:`SunaCircuitOpenError`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Literal

from .config import BreakerConfig
from .errors import SunaCircuitOpenError

__all__ = ["BreakerState", "CircuitBreaker"]

BreakerState = Literal["closed", "open", "half_open"]
_log = logging.getLogger("suna_client.breaker")


class CircuitBreaker:
    """State machine shared by every call of one client (one base URL)."""

    def __init__(
        self,
        config: BreakerConfig,
        *,
        name: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.name = name
        self._clock = clock
        self._failures = 0
        self._route_failures: dict[str, int] = {}
        self._opened_at: float | None = None
        self._probe_out = False

    @property
    def state(self) -> BreakerState:
        """``closed``, ``open`` or ``half_open`` (cool-down over, probe allowed or out)."""
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.config.cooldown_s:
            return "half_open"
        return "open"

    @property
    def consecutive_failures(self) -> int:
        """Failures since the last success."""
        return self._failures

    def acquire(self, *, method: str = "", route: str = "") -> bool:
        """Let a call through or raise; ``True`` when the call is the half-open probe."""
        if not self.config.enabled:
            return False
        state = self.state
        if state == "closed":
            return False
        if state == "half_open" and not self._probe_out:
            self._probe_out = True
            return True
        assert self._opened_at is not None
        wait = max(0.0, self._opened_at + self.config.cooldown_s - self._clock())
        raise SunaCircuitOpenError(
            f"circuit open for {self.name} "
            f"({max(self._failures, *self._route_failures.values(), 0)} consecutive failures)",
            retry_in_s=wait,
            method=method,
            route=route,
        )

    def release(self, probe: bool, outcome: bool | None, *, route: str = "") -> None:
        """Record a call's outcome: ``True`` ok, ``False`` failure, ``None`` abandoned."""
        if not self.config.enabled:
            return
        if probe:
            self._probe_out = False
        if outcome is None:
            return
        if outcome:
            if self._opened_at is not None:
                _log.info("circuit closed for %s", self.name)
                self._route_failures.clear()
            self._failures = 0
            self._route_failures.pop(route, None)
            self._opened_at = None
            return
        self._failures += 1
        in_route = self._route_failures[route] = self._route_failures.get(route, 0) + 1
        if probe or (
            self._opened_at is None
            and max(self._failures, in_route) >= self.config.failure_threshold
        ):
            _log.warning("circuit opened for %s after %d failures (%d on %s)", self.name,
                         self._failures, in_route, route or "calls")  # fmt: skip
            self._opened_at = self._clock()

    def reset(self) -> None:
        """Back to closed, forgetting every failure."""
        self._failures = 0
        self._route_failures.clear()
        self._opened_at = None
        self._probe_out = False

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.name!r}, state={self.state!r})"
