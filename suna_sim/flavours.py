"""The three Suna API flavours and what each one does by default.

A :class:`Behaviour` is a :class:`SimConfig` resolved against its flavour:
every knob left ``None`` takes the value the real flavour has (suna-api.md,
"Versions" and "What breaks a naive client").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from .config import SimConfig

__all__ = ["FLAVOURS", "AnswerForm", "Behaviour", "Flavour", "behaviour_of"]

Flavour = Literal["api-2025", "agent-start", "v1"]
FLAVOURS: tuple[Flavour, ...] = ("api-2025", "agent-start", "v1")
AnswerForm = Literal["xml", "native", "text"]


@dataclass(frozen=True, slots=True)
class Behaviour:
    """Everything a route or a run needs to know about the flavour in force."""

    flavour: Flavour
    prefix: str
    """``/api`` or ``/v1``."""
    unified_start: bool
    """``POST P/agent/start`` (multipart) instead of ``POST /api/thread/{tid}/agent/start``."""
    redis_stream: bool
    """``v1``'s stream: ``_event_id``, ``?last_id=``, a trimmed catch-up, ``error`` closes."""
    verify_signatures: bool
    require_model: bool
    run_limit_status: Literal[429, 402]
    usage_row_type: Literal["assistant_response_end", "llm_response_end"]
    ping_interval_s: float
    """0: no pings."""
    reorder_events: bool
    run_row_delay_ms: float
    stream_maxlen: int | None
    answer_via: AnswerForm
    silent_llm_failure: bool
    """An LLM failure ends the run ``completed`` with no answer (``api-2025``)."""
    lax_stop: bool
    """Stop sets ``stopped`` even over a finished run, and is lost before pick-up."""
    worker_timeout_pings: int
    """Pings without data after which a ``running`` run is failed (0: never)."""


_DEFAULTS: dict[Flavour, dict[str, object]] = {
    "api-2025": {
        "prefix": "/api", "unified_start": False, "redis_stream": False,
        "verify_signatures": False, "require_model": True, "run_limit_status": 429,
        "usage_row_type": "assistant_response_end", "ping_interval_s": 0.0,
        "reorder_events": True, "run_row_delay_ms": 0.0, "stream_maxlen": None,
        "answer_via": "xml", "silent_llm_failure": True, "lax_stop": True,
        "worker_timeout_pings": 0,
    },
    "agent-start": {
        "prefix": "/api", "unified_start": True, "redis_stream": False,
        "verify_signatures": False, "require_model": False, "run_limit_status": 402,
        "usage_row_type": "llm_response_end", "ping_interval_s": 0.0,
        "reorder_events": True, "run_row_delay_ms": 0.0, "stream_maxlen": None,
        "answer_via": "xml", "silent_llm_failure": True, "lax_stop": True,
        "worker_timeout_pings": 0,
    },
    "v1": {
        "prefix": "/v1", "unified_start": True, "redis_stream": True,
        "verify_signatures": True, "require_model": False, "run_limit_status": 402,
        "usage_row_type": "llm_response_end", "ping_interval_s": 5.0,
        "reorder_events": False, "run_row_delay_ms": 30.0, "stream_maxlen": 200,
        "answer_via": "native", "silent_llm_failure": False, "lax_stop": False,
        "worker_timeout_pings": 4,
    },
}
_KNOBS = (
    "verify_signatures", "require_model", "run_limit_status", "usage_row_type",
    "ping_interval_s", "reorder_events", "run_row_delay_ms", "stream_maxlen", "answer_via",
    "silent_llm_failure", "lax_stop", "worker_timeout_pings",
)  # fmt: skip


def behaviour_of(config: SimConfig) -> Behaviour:
    """``config`` resolved against its flavour's defaults."""
    values = dict(_DEFAULTS[config.flavour])
    for knob in _KNOBS:
        value = getattr(config, knob)
        if value is not None:
            values[knob] = value
    return Behaviour(flavour=config.flavour, **values)  # type: ignore[arg-type]
