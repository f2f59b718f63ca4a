"""Renum: the team brain for Suna agents.

The service package: API (:mod:`renum.app`), settings, errors, auth, the
embedded dev stack and the database layer. See the README for the tour.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
