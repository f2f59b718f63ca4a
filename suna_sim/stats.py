"""Counters a test reads to prove what the simulator saw (``GET /_sim/stats``)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from pydantic import BaseModel, Field

__all__ = ["SimStats", "UsageTally", "UsageTotals"]

USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cache_creation_tokens",
    "reasoning_tokens",
    "total_tokens",
    "llm_calls",
)


class UsageTotals(BaseModel):
    """Tokens written to usage rows, summed."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cache_creation_tokens: int = 0
    reasoning_tokens: int = 0
    total_tokens: int = 0
    llm_calls: int = 0


class SimStats(BaseModel):
    """A snapshot of the simulator's counters since start or the last reset."""

    threads: int = 0
    projects: int = 0
    """Projects created, each with its sandbox (threads of one project share it)."""
    runs_started: int = 0
    runs_by_thread: dict[str, int] = Field(default_factory=dict)
    runs_by_agent: dict[str, int] = Field(default_factory=dict)
    duplicate_starts: int = 0
    """Starts on a thread that already had a run (what exactly-once must keep at 0)."""
    duplicate_threads: list[str] = Field(default_factory=list)
    runs_by_status: dict[str, int] = Field(default_factory=dict)
    running: int = 0
    usage: UsageTotals = Field(default_factory=UsageTotals)
    usage_by_model: dict[str, UsageTotals] = Field(default_factory=dict)
    key_headers: dict[str, dict[str, str]] = Field(default_factory=dict)
    """Run id → the ``X-API-Key-<service>`` headers its start carried (service → value)."""
    requests: dict[str, int] = Field(default_factory=dict)
    """Route name → requests received (faulted ones included)."""
    faults_injected: dict[str, int] = Field(default_factory=dict)
    streams_open: int = 0
    streams_total: int = 0


class UsageTally:
    """Running totals of emitted usage, overall and per model."""

    def __init__(self) -> None:
        self.total: Counter[str] = Counter()
        self.by_model: dict[str, Counter[str]] = {}

    def add(self, model: str, figures: dict[str, Any]) -> None:
        """Add one usage row's figures (keys of :class:`UsageTotals`)."""
        model_tally = self.by_model.setdefault(model, Counter())
        for name in USAGE_FIELDS:
            value = int(figures.get(name, 0))
            self.total[name] += value
            model_tally[name] += value

    def totals(self) -> UsageTotals:
        """Overall totals."""
        return UsageTotals(**{name: self.total[name] for name in USAGE_FIELDS})

    def per_model(self) -> dict[str, UsageTotals]:
        """Totals per model."""
        return {
            model: UsageTotals(**{name: tally[name] for name in USAGE_FIELDS})
            for model, tally in self.by_model.items()
        }
