"""Fault injection: what can go wrong, on which route or agent, how often.

Route faults act on HTTP requests (``route`` is a route name below, or
``*``; ``start_agent`` is whichever start route the flavour has): ``error``
(a 5xx; 502/503/504 with a proxy's HTML body), ``rate_limit``
(429 with Suna's detail object), ``malformed`` (200 with a truncated JSON
body, or a garbage line on a stream), ``drop`` (the connection is closed
without an answer) and ``latency`` (a delay). ``rate`` is a probability
(seeded RNG); ``count`` limits a fault to its next N hits; ``after`` applies
it once the route has done its work (a start whose run exists but whose answer
is lost). Run faults shape runs: failing, hanging until stopped, stopped by
billing, streams cut after N events, latency spikes.
"""

from __future__ import annotations

import random
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ROUTE_NAMES", "FaultBox", "Faults", "RouteFault", "RunFaults"]

ROUTE_NAMES = (
    "create_thread",
    "add_message",
    "start_agent",
    "initiate",
    "get_run",
    "stream",
    "stop_run",
    "list_runs",
    "get_messages",
    "list_agents",
    "create_agent",
    "get_agent",
    "run_status",
    "active_runs",
)

FaultKind = Literal["error", "rate_limit", "malformed", "drop", "latency"]


class RouteFault(BaseModel):
    """One fault on the requests of one route (or of every route: ``*``)."""

    model_config = ConfigDict(extra="forbid")

    kind: FaultKind
    route: str = "*"
    status: int = 503
    """Status of an ``error`` fault."""
    rate: float = Field(1.0, ge=0.0, le=1.0)
    count: int | None = Field(None, ge=0)
    """Only the next ``count`` hits (``None``: no limit)."""
    after: bool = False
    latency_ms: float = Field(0.0, ge=0.0)
    retry_after_s: float | None = None
    """``Retry-After`` of a ``rate_limit`` fault (Suna itself sends none)."""


class RunFaults(BaseModel):
    """How runs misbehave (per agent or for every agent)."""

    model_config = ConfigDict(extra="forbid")

    fail_rate: float = Field(0.0, ge=0.0, le=1.0)
    """Runs whose LLM call fails: ``failed`` in ``v1``; in ``api-2025`` and
    ``agent-start`` ``completed`` with no answer and no usage (Suna's quirk)."""
    failure_message: str | None = None
    """The provider's error text of those failures; ``{key}`` is replaced by the first
    ``X-API-Key-<service>`` value the start carried (a provider echoing a key)."""
    hang_rate: float = Field(0.0, ge=0.0, le=1.0)
    """Runs that stop producing anything until they are stopped."""
    billing_stop_rate: float = Field(0.0, ge=0.0, le=1.0)
    """Runs that end ``stopped`` with "Billing limit reached: …"."""
    stream_cut_after: int | None = Field(None, ge=0)
    """Cut each stream connection of the run after this many events."""
    stream_cut_times: int | None = Field(None, ge=0)
    """Cut only this many connections (``None``: all)."""
    latency_spike_rate: float = Field(0.0, ge=0.0, le=1.0)
    latency_spike_ms: float = Field(0.0, ge=0.0)


class Faults(BaseModel):
    """Every fault currently set on a simulator."""

    model_config = ConfigDict(extra="forbid")

    routes: list[RouteFault] = Field(default_factory=list)
    runs: RunFaults = Field(default_factory=RunFaults)
    agents: dict[str, RunFaults] = Field(default_factory=dict)
    """Per agent; replaces ``runs`` (and the agent file's faults) for that agent."""
    out_of_credit: list[str] = Field(default_factory=list)
    """Accounts whose starts answer 402."""
    status_lag_ms: float = Field(0.0, ge=0.0)
    """Delay between a run's final stream event and its status in the database."""


class FaultBox:
    """The active faults, their remaining counts and the seeded RNG deciding hits."""

    def __init__(self, faults: Faults | None = None, *, seed: int = 0) -> None:
        self.rng = random.Random(seed)
        self.injected: dict[str, int] = {}
        self.set(faults or Faults())

    def set(self, faults: Faults) -> None:
        """Replace every fault."""
        self.faults = faults
        self._left = [fault.count for fault in faults.routes]

    def _roll(self, rate: float) -> bool:
        return rate >= 1.0 or (rate > 0.0 and self.rng.random() < rate)

    def pick(self, route: str, *, after: bool) -> list[RouteFault]:
        """The faults that hit this request now: latency ones, then at most one other."""
        hits: list[RouteFault] = []
        for index, fault in enumerate(self.faults.routes):
            if fault.after != after or fault.route not in ("*", route):
                continue
            left = self._left[index]
            if left == 0 or not self._roll(fault.rate):
                continue
            if left is not None:
                self._left[index] = left - 1
            self.injected[fault.kind] = self.injected.get(fault.kind, 0) + 1
            hits.append(fault)
            if fault.kind != "latency":
                break
        return hits

    def for_run(self, agent_id: str, scripted: RunFaults | None) -> RunFaults:
        """The run faults of a new run of ``agent_id``."""
        return self.faults.agents.get(agent_id) or scripted or self.faults.runs

    def fate(self, faults: RunFaults) -> str:
        """``ok``, ``fail``, ``hang`` or ``billing`` for a new run."""
        for name, rate in (
            ("fail", faults.fail_rate),
            ("hang", faults.hang_rate),
            ("billing", faults.billing_stop_rate),
        ):
            if rate > 0.0 and self._roll(rate):
                self.injected[name] = self.injected.get(name, 0) + 1
                return name
        return "ok"

    def out_of_credit(self, account_id: str) -> bool:
        """Whether ``account_id`` is marked out of credit."""
        return account_id in self.faults.out_of_credit
