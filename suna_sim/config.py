"""The simulator's settings, with Suna's defaults, named in one place.

Knobs left ``None`` take the value of the chosen flavour (see
:mod:`suna_sim.flavours`); a test sets one to turn a behaviour on or off.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from .flavours import AnswerForm, Flavour
from .ids import DEV_ACCOUNT_ID, DEV_JWT_SECRET

__all__ = ["SimConfig", "parse_api_keys"]


@dataclass(frozen=True, slots=True)
class SimConfig:
    """How the simulated Suna behaves (its agents and faults are set apart)."""

    flavour: Flavour = "v1"
    """``api-2025``, ``agent-start`` or ``v1`` (the newest): routes, shapes, quirks."""

    jwt_secret: str = DEV_JWT_SECRET
    """HS256 secret of bearer tokens (checked only where signatures are verified)."""

    accounts: frozenset[str] = frozenset({DEV_ACCOUNT_ID})
    """Account ids (UUIDs) that exist; a token for any other ``sub`` gets Suna's 500
    on every write. Accounts of ``api_keys`` exist too."""

    api_keys: Mapping[str, str] = field(default_factory=dict)
    """Accepted ``X-API-Key`` values (``pk_xxx:sk_xxx``) → account id."""

    custom_agents: bool = True
    """Suna's ``custom_agents`` flag: off, the agents list answers 403."""

    max_parallel_runs: int = 3
    """Running runs allowed per account (Suna's production default); 0: no limit."""

    run_limit_cache_s: float = 0.0
    """``api-2025`` cached the running count in Redis (15 min); 0: counted live."""

    thread_limit: int | None = None
    """Threads per account before 402 ``THREAD_LIMIT_EXCEEDED`` (plan limits; None: local mode)."""

    project_limit: int | None = None
    """Projects per account before 402 ``PROJECT_LIMIT_EXCEEDED``."""

    sandbox_latency_ms: float = 20.0
    """Provisioning a new project's sandbox (Daytona takes seconds; kept short here)."""

    pickup_delay_ms: float = 5.0
    """From a start's answer to a worker picking the run up (a lax stop before it is lost)."""

    default_model: str | None = None
    """The account's default model when a start sends none (None: the agent's model)."""

    shared_projects: bool = True
    """An optimistic start may name a project the account has (its new thread shares the
    sandbox). False: a 500, as ``v1`` answered from 2025-12-19 to 2026-01-04 (it inserted
    every optimistic start's project)."""

    usage_lag_ms: float = 0.0
    """Usage rows are written this long after the run's final status (``v1``'s batch
    writer flushing late); 0: before it, as Suna does when the flush keeps up."""

    allowed_models: frozenset[str] | None = None
    """Models the account's plan allows (None: any); a start with another one gets Suna's
    403 ``{"message", "allowed_models"}``."""

    seed: int = 0
    """Seed of every deterministic choice (latencies, answers, fault hits); ids are random."""

    keepalive_s: float = 5.0
    """Idle seconds before the server closes a kept-alive connection (uvicorn: 5)."""

    # Flavour knobs: None takes the flavour's value.
    verify_signatures: bool | None = None
    require_model: bool | None = None
    run_limit_status: Literal[429, 402] | None = None
    usage_row_type: Literal["assistant_response_end", "llm_response_end"] | None = None
    ping_interval_s: float | None = None
    """Idle seconds before a ``{"type": "ping"}``; 0: never."""
    reorder_events: bool | None = None
    """Chunks (and an LLM failure's error event) arrive out of order."""
    run_row_delay_ms: float | None = None
    """The run row is written this long after a start answers (``v1``)."""
    stream_maxlen: int | None = None
    """Events a ``v1`` stream keeps for its catch-up."""
    answer_via: AnswerForm | None = None
    """How an agent gives its final answer: a ``complete`` call (XML or native), or text."""
    silent_llm_failure: bool | None = None
    lax_stop: bool | None = None
    worker_timeout_pings: int | None = None

    def known_accounts(self) -> frozenset[str]:
        """Every account that exists: ``accounts`` and the owners of ``api_keys``."""
        return self.accounts | frozenset(self.api_keys.values())


def parse_api_keys(items: Iterable[str]) -> dict[str, str]:
    """``pk_x:sk_x[=ACCOUNT]`` options → key → account (by default the dev account).

    Raises ``ValueError`` on a key not shaped ``pk_xxx:sk_xxx``, naming only
    its public part.
    """
    keys: dict[str, str] = {}
    for item in items:
        key, _, account = item.partition("=")
        public, sep, secret = key.partition(":")
        if not (public.startswith("pk_") and sep and secret.startswith("sk_")):
            raise ValueError(f"API key {public!r}…: expected pk_xxx:sk_xxx[=ACCOUNT]")
        keys[key] = account or DEV_ACCOUNT_ID
    return keys
