"""A Suna-compatible simulator: the real routes and quirks, scripted agents, faults.

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
from .ids import DEV_ACCOUNT_ID
from .server import SimulatorThread, SunaSimulator, build_app
from .stats import SimStats, UsageTotals

__all__ = [
    "DEV_ACCOUNT_ID",
    "ROUTE_NAMES",
    "AgentBook",
    "AgentScript",
    "Faults",
    "KeywordRule",
    "RouteFault",
    "RunFaults",
    "SimConfig",
    "SimStats",
    "SimulatorThread",
    "SunaSimulator",
    "UsageTotals",
    "build_app",
    "load_agents",
    "mint_token",
]
