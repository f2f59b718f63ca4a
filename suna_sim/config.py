"""The simulator's settings, with Suna's defaults, named in one place."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["SimConfig", "parse_api_keys"]


@dataclass(frozen=True, slots=True)
class SimConfig:
    """How the simulated Suna behaves (its agents and faults are set apart)."""

    jwt_secret: str | None = None
    """HS256 secret of bearer tokens. ``None``: signatures are not checked
    (as mid-2025 Suna did), only the ``sub`` claim is read."""

    api_keys: Mapping[str, str] = field(default_factory=dict)
    """Accepted ``X-API-Key`` values (``pk_xxx:sk_xxx``) → account id."""

    max_parallel_runs: int = 3
    """Running runs allowed per account (Suna's production default); 0: no limit."""

    run_limit_status: Literal[429, 402] = 429
    """429 (mid-2025) or 402 with ``error_code: AGENT_RUN_LIMIT_EXCEEDED`` (later)."""

    usage_row_type: Literal["assistant_response_end", "llm_response_end"] = (
        "assistant_response_end"
    )
    """Type of the stored per-LLM-call usage rows (the later name as a mode)."""

    ping_interval_s: float | None = None
    """Idle seconds before a ``{"type": "ping"}`` (later versions: 5); ``None``: never."""

    seed: int = 0
    """Seed of every deterministic choice (latencies, answers, fault hits); ids are random."""

    keepalive_s: float = 5.0
    """Idle seconds before the server closes a kept-alive connection (uvicorn: 5)."""


def parse_api_keys(items: Iterable[str]) -> dict[str, str]:
    """``pk_x:sk_x[=ACCOUNT]`` options → key → account (by default the ``pk_`` part).

    Raises ``ValueError`` on a key not shaped ``pk_xxx:sk_xxx``, naming only
    its public part.
    """
    keys: dict[str, str] = {}
    for item in items:
        key, _, account = item.partition("=")
        public, sep, secret = key.partition(":")
        if not (public.startswith("pk_") and sep and secret.startswith("sk_")):
            raise ValueError(f"API key {public!r}…: expected pk_xxx:sk_xxx[=ACCOUNT]")
        keys[key] = account or public
    return keys
