"""Every Prometheus metric Renum exports, defined once.

Names follow the Prometheus conventions: the ``renum_`` prefix, base units
(seconds, USD), ``_total`` on counters. Labels are of low cardinality only —
statuses, outcomes, Suna route templates, status classes, providers, models,
token kinds — never a user or execution id.

Each process keeps its own registry and serves it: the API at ``/metrics``,
a worker on ``RENUM_WORKER_METRICS_PORT`` (per-process endpoints; Prometheus
sums across instances). When ``PROMETHEUS_MULTIPROC_DIR`` is set (several
processes on one host sharing one endpoint), :func:`render` aggregates every
process's files instead, and the gauges' ``multiprocess_mode`` says how.
"""

from __future__ import annotations

import logging
import os
from decimal import Decimal

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.multiprocess import MultiProcessCollector

from suna_client import OnRequest, SunaClient

__all__ = [
    "CONTENT_TYPE_LATEST",
    "EXECUTIONS",
    "EXECUTIONS_IN_FLIGHT",
    "QUEUE_DEPTH",
    "STEP_DURATION",
    "SUNA_BREAKER_STATE",
    "SUNA_REQUESTS",
    "SUNA_REQUEST_DURATION",
    "TOKENS",
    "UNPRICED_RUNS",
    "USAGE_COST",
    "observe_usage",
    "render",
    "serve_worker_metrics",
    "status_class",
    "suna_request_hook",
]

_log = logging.getLogger("renum.metrics")

#: Step and Suna-request buckets: a classifier answers in 50 ms, a researcher in minutes.
_STEP_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
_SUNA_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_BREAKER_STATES = ("closed", "open", "half_open")

EXECUTIONS = Counter("renum_executions", "Executions that reached a final status.", ["status"])
EXECUTIONS_IN_FLIGHT = Gauge(
    "renum_executions_in_flight", "Executions being driven by a worker now.",
    multiprocess_mode="livesum",
)  # fmt: skip
QUEUE_DEPTH = Gauge(
    "renum_queue_depth", "Entries in the execution queue (waiting or being driven).",
    multiprocess_mode="mostrecent",
)  # fmt: skip
STEP_DURATION = Histogram(
    "renum_step_duration_seconds", "Duration of step attempts, by outcome.", ["outcome"],
    buckets=_STEP_BUCKETS,
)  # fmt: skip
SUNA_REQUESTS = Counter(
    "renum_suna_requests", "Requests to the Suna API, by route and status class.",
    ["route", "status_class"],
)  # fmt: skip
SUNA_REQUEST_DURATION = Histogram(
    "renum_suna_request_duration_seconds", "Latency of Suna API requests.",
    ["route", "status_class"], buckets=_SUNA_BUCKETS,
)  # fmt: skip
SUNA_BREAKER_STATE = Gauge(
    "renum_suna_circuit_breaker_state",
    "1 for the state the Suna circuit breaker is in, 0 for the others.", ["state"],
    multiprocess_mode="livemax",
)  # fmt: skip
TOKENS = Counter(
    "renum_tokens", "Tokens used by agent runs, by provider, model and kind.",
    ["provider", "model", "kind"],
)  # fmt: skip
USAGE_COST = Counter(
    "renum_usage_cost_usd", "Cost of agent runs in US dollars (priced runs only).",
    ["provider", "model"],
)  # fmt: skip
UNPRICED_RUNS = Counter(
    "renum_unpriced_runs", "Agent runs whose model genai-prices does not price.", ["model"]
)

for _state in _BREAKER_STATES:
    SUNA_BREAKER_STATE.labels(_state).set(1 if _state == "closed" else 0)


def status_class(status: int | None) -> str:
    """``2xx`` … ``5xx``, or ``error`` when no HTTP answer came back."""
    return f"{status // 100}xx" if status else "error"


def suna_request_hook(client_ref: list[SunaClient]) -> OnRequest:
    """An ``on_request`` hook counting Suna requests and tracking the breaker state.

    ``client_ref`` holds the client once built (the hook is needed to build it).
    """

    children: dict[tuple[str, str], tuple[Counter, Histogram]] = {}  # labels() costs a lookup
    shown: list[str] = ["closed"]

    def hook(route: str, status: int | None, latency_s: float) -> None:
        label = status_class(status)
        pair = children.get((route, label))
        if pair is None:
            pair = children[(route, label)] = (
                SUNA_REQUESTS.labels(route, label), SUNA_REQUEST_DURATION.labels(route, label))
        pair[0].inc()
        pair[1].observe(latency_s)
        if client_ref and client_ref[0].breaker_state != shown[0]:
            shown[0] = client_ref[0].breaker_state
            for state in _BREAKER_STATES:
                SUNA_BREAKER_STATE.labels(state).set(1 if state == shown[0] else 0)

    return hook


def observe_usage(
    provider: str | None, model: str | None, tokens: dict[str, int], cost_usd: Decimal | None
) -> None:
    """Count one recorded run's tokens and cost (or that it was not priced)."""
    provider_label, model_label = provider or "unknown", model or "unknown"
    for kind, count in tokens.items():
        if count:
            TOKENS.labels(provider_label, model_label, kind).inc(count)
    if cost_usd is None:
        UNPRICED_RUNS.labels(model_label).inc()
    else:
        USAGE_COST.labels(provider_label, model_label).inc(float(cost_usd))


def render() -> bytes:
    """The exposition text of this process (or of every process, in multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def serve_worker_metrics(port: int, host: str) -> bool:
    """Serve this (worker) process's ``/metrics`` on ``host:port``; False if it cannot."""
    if port == 0:
        return False
    try:
        start_http_server(port, addr=host)
    except OSError as exc:  # another worker on this host has the port: run without
        _log.warning("worker metrics not served on %s:%d: %s", host, port, exc)
        return False
    _log.info("worker metrics on http://%s:%d/metrics", host, port)
    return True
