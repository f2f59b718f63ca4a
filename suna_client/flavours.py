"""Suna's three API flavours, the routes of each, and how to tell them apart.

============  =====================  ======  ====================================
flavour       Suna commits           prefix  start a run
============  =====================  ======  ====================================
api-2025      2025-08-01..10-25      /api    thread, message, then JSON start
agent-start   2025-10-25..12-04      /api    ``POST /api/agent/start`` (multipart)
v1            2025-12-04..           /v1     ``POST /v1/agent/start`` (multipart)
============  =====================  ======  ====================================

:func:`probe` tells them apart without credentials: a ``GET`` on a route that
exists only for ``POST`` answers 405 (FastAPI routes before it authenticates),
on one that does not exist 404.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import aiohttp

from .errors import SunaConnectionError, SunaFlavourError

__all__ = ["FLAVOURS", "ROUTES", "Flavour", "FlavourSetting", "Routes", "probe"]

Flavour = Literal["api-2025", "agent-start", "v1"]
FlavourSetting = Literal["auto", "api-2025", "agent-start", "v1"]
FLAVOURS: tuple[Flavour, ...] = ("api-2025", "agent-start", "v1")
_log = logging.getLogger("suna_client")


@dataclass(frozen=True, slots=True)
class Routes:
    """The route templates of one flavour (``{tid}``, ``{rid}``, ``{aid}`` are ids)."""

    flavour: Flavour
    prefix: str
    start: str
    """``POST``: the JSON start on a thread (``api-2025``) or the multipart one."""
    create_thread: str
    messages: str
    get_run: str
    stream: str
    stop: str
    thread_runs: str
    agents: str
    agent: str

    @property
    def unified_start(self) -> bool:
        """Whether a start takes the prompt (multipart ``P/agent/start``)."""
        return self.flavour != "api-2025"

    @property
    def lasting_stops(self) -> bool:
        """Whether a stop holds once the run reads ``stopped`` (``v1`` keeps a stop signal
        for the worker). Before ``v1`` a stop sent before the worker picked the run up is
        lost: the run then completes and bills in full, overwriting ``stopped``."""
        return self.flavour == "v1"

    @property
    def closing_statuses(self) -> frozenset[str]:
        """Run-level statuses after which the flavour's stream closes."""
        base = frozenset({"completed", "failed", "stopped", "STOP", "END_STREAM", "ERROR"})
        return base | {"error"} if self.flavour == "v1" else base

    @classmethod
    def of(cls, flavour: Flavour) -> Routes:
        """The routes of ``flavour``."""
        p = "/v1" if flavour == "v1" else "/api"
        start = "/api/thread/{tid}/agent/start" if flavour == "api-2025" else f"{p}/agent/start"
        return cls(
            flavour=flavour, prefix=p, start=start, create_thread=f"{p}/threads",
            messages=f"{p}/threads/{{tid}}/messages", get_run=f"{p}/agent-run/{{rid}}",
            stream=f"{p}/agent-run/{{rid}}/stream", stop=f"{p}/agent-run/{{rid}}/stop",
            thread_runs=f"{p}/thread/{{tid}}/agent-runs", agents=f"{p}/agents",
            agent=f"{p}/agents/{{aid}}",
        )  # fmt: skip


ROUTES: dict[Flavour, Routes] = {flavour: Routes.of(flavour) for flavour in FLAVOURS}
_PROBES: tuple[tuple[Flavour, str], ...] = (
    ("v1", "/v1/agent/start"),
    ("agent-start", "/api/agent/start"),
    ("api-2025", "/api/thread/00000000-0000-0000-0000-000000000000/agent/start"),
)


async def probe(
    session: aiohttp.ClientSession, base_url: str, *, timeout_s: float = 10.0
) -> tuple[Flavour, str]:
    """The flavour of the Suna at ``base_url`` and why: ``GET`` on each start route.

    Raises :class:`SunaFlavourError`, saying what each probe answered, when no
    route answers 405 or when the answers cannot be read as Suna's, and
    :class:`SunaConnectionError` when Suna cannot be reached (a moment's outage is
    waited out like any other).
    """
    seen: list[str] = []
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    for flavour, path in _PROBES:
        try:
            async with session.get(base_url + path, timeout=timeout) as resp:
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:  # Suna may be down a moment
            seen.append(f"GET {path}: {type(exc).__name__}")
            raise SunaConnectionError(
                f"cannot reach Suna to tell which API it speaks ({'; '.join(seen)})",
                request_sent=False, method="GET", route=f"GET {path}",
            ) from None
        seen.append(f"GET {path}: {status}")
        if status == 405:
            reason = f"GET {path} answered 405 (the route exists for POST)"
            _log.info("Suna at %s speaks the %s API: %s", base_url, flavour, reason)
            return flavour, reason
        if status != 404:
            raise SunaFlavourError(_undecided(base_url, seen))
    raise SunaFlavourError(_undecided(base_url, seen))


def _undecided(base_url: str, seen: list[str]) -> str:
    return (f"cannot tell which Suna API {base_url} speaks ({'; '.join(seen)}); "
            "set SUNA_API_FLAVOUR to api-2025, agent-start or v1")  # fmt: skip
