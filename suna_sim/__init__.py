"""A Suna-compatible simulator: the real routes and quirks, scripted agents, faults.

It serves one of Suna's three API flavours (``api-2025``, ``agent-start``,
``v1``; default ``v1``) with that flavour's routes, shapes and behaviours,
including those that break a naive client (each one a knob of
:class:`SimConfig`).

Answers, token counts and latencies are deterministic (seeded by the run's
number); thread and run ids are random, so that a simulator restarted on kept
data (``renum dev``) never reuses one. LLM-free, and cheap enough for
thousands of runs and streams in one process. Run it with
``async with SunaSimulator() as sim``, ``SimulatorThread`` from synchronous
code, or ``python -m suna_sim``.
"""

from .agents import AgentBook, AgentScript, KeywordRule, load_agents
from .auth import mint_token
from .config import SimConfig
from .faults import ROUTE_NAMES, Faults, RouteFault, RunFaults
from .flavours import FLAVOURS, Behaviour, Flavour, behaviour_of
from .ids import DEV_ACCOUNT_ID, DEV_JWT_SECRET, agent_uuid
from .runner import provider_model
from .server import SimulatorThread, SunaSimulator, build_app
from .stats import SimStats, UsageTotals

__all__ = [
    "DEV_ACCOUNT_ID",
    "DEV_JWT_SECRET",
    "FLAVOURS",
    "ROUTE_NAMES",
    "AgentBook",
    "AgentScript",
    "Behaviour",
    "Faults",
    "Flavour",
    "KeywordRule",
    "RouteFault",
    "RunFaults",
    "SimConfig",
    "SimStats",
    "SimulatorThread",
    "SunaSimulator",
    "UsageTotals",
    "agent_uuid",
    "behaviour_of",
    "build_app",
    "load_agents",
    "mint_token",
    "provider_model",
]
