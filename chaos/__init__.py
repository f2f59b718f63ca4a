"""Chaos scenarios: Renum under worker kills, Suna faults, Redis flushes, PostgreSQL restarts.

``python -m chaos`` (``make chaos``) runs every scenario at full size; the
short form runs inside ``make test`` (``tests/chaos``, marker ``chaos``).
Each scenario prints one line of figures (see :class:`~chaos.scenarios.Report`)
and fails when an execution hung, a Suna run or usage row was duplicated, or
the usage ledger does not reconcile with what Suna reported.
"""

from chaos.scenarios import FULL, SCENARIOS, SHORT, Report, Size
from chaos.stack import ChaosStack

__all__ = ["FULL", "SCENARIOS", "SHORT", "ChaosStack", "Report", "Size"]
