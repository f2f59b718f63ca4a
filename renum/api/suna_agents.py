"""A workflow's agents against Suna: checked when a team is written, frozen at launch.

Every step's ``agent_id`` (a name or a UUID) is looked up in the Suna account
the user's executions run as (:mod:`renum.suna_accounts`). A team write with an
agent that account does not have, or a name several of its agents share, is a
422 naming each step; a Suna that cannot answer is a 503 unless the request
says ``check_agents=false``. A launch resolves the names once more and records
the UUIDs in the execution; what Suna cannot answer in time is resolved by the
worker when the step starts.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import dsl
from renum.errors import CredentialError, RequestValidationProblem, SunaUnavailableError
from renum.suna_accounts import Account, SunaAccounts
from suna_client import (
    SunaAgentsDisabledError,
    SunaError,
    SunaUnauthorizedError,
    SunaUnknownAgentError,
)
from suna_client.errors import is_uuid

__all__ = ["account_of", "check_agents", "freeze_agents"]

_log = logging.getLogger("renum.api.suna_agents")

#: Longest a team write waits for Suna to check its agents.
CHECK_TIMEOUT_S = 10.0
#: Longest a launch waits for Suna to resolve its agents' names (then the worker does).
FREEZE_TIMEOUT_S = 2.0


async def account_of(accounts: SunaAccounts, pool: Any, user_id: str) -> Account:
    """The account the user's executions run as; a 422 if their stored key cannot be opened
    (a master key no longer configured), never a 500."""
    try:
        return await accounts.of_user(pool, user_id)
    except CredentialError as exc:
        raise RequestValidationProblem(
            "Your stored Suna account key cannot be opened", errors=[
                {"path": "/keys/suna", "code": "credential_error",
                 "message": f"{exc.detail}: store the key again with PUT /v1/keys/suna"}],
        ) from None  # fmt: skip


def _agents(plan: dict[str, Any]) -> dict[str, list[dsl.PlanStep]]:
    """Each agent reference of the plan → the steps that make it."""
    steps: dict[str, list[dsl.PlanStep]] = {}
    for step in dsl.Plan.from_dict(plan).steps:
        steps.setdefault(step.agent_id, []).append(step)
    return steps


async def check_agents(
    accounts: SunaAccounts, account: Account, plan: dict[str, Any], *,
    prefix: str = "/workflow",
) -> dict[str, str]:  # fmt: skip
    """Every agent of ``plan`` in ``account`` (names → UUIDs); 422 for those it lacks."""
    steps = _agents(plan)
    names = list(steps)
    try:
        found = await asyncio.wait_for(asyncio.gather(
            *(accounts.check(account, a) for a in names), return_exceptions=True),
            CHECK_TIMEOUT_S)  # fmt: skip
    except TimeoutError:
        raise SunaUnavailableError(
            f"Suna did not answer within {CHECK_TIMEOUT_S:g} s to check the workflow's agents: "
            "try again, or pass check_agents=false to save the team unchecked") from None
    errors: list[dict[str, Any]] = []
    resolved: dict[str, str] = {}
    whose = "your Suna account" if account.caller.kind == "user" else "the Suna service account"
    for name, result in zip(names, found, strict=True):
        if isinstance(result, SunaUnknownAgentError):
            what = ("has no agent" if result.matches == 0
                    else f"has {result.matches} agents, so the name is ambiguous:")  # fmt: skip
            code = "unknown_agent" if result.matches == 0 else "ambiguous_agent"
            hint = " (name it by UUID)" if result.matches else ""
            errors.extend({
                "path": f"{prefix}/agents/{s.index}/agent_id", "code": code,
                "message": f"step {s.id!r}: {whose} {what} {name!r}{hint}"}
                for s in steps[name])  # fmt: skip
        elif isinstance(result, SunaUnauthorizedError) and account.caller.kind == "user":
            raise RequestValidationProblem(
                "Suna refused your stored Suna account key while checking the agents",
                errors=[{"path": "/keys/suna", "code": "suna_unauthorized",
                         "message": "store a valid key with PUT /v1/keys/suna, or delete it "
                                    "to run as the service account"}]) from None  # fmt: skip
        elif isinstance(result, SunaAgentsDisabledError):
            errors.extend({
                "path": f"{prefix}/agents/{s.index}/agent_id", "code": "agents_disabled",
                "message": f"step {s.id!r}: this Suna deployment lists no agents (custom "
                f"agents are off), so {name!r} cannot be looked up: name the agent by UUID"}
                for s in steps[name])  # fmt: skip
        elif isinstance(result, SunaError):
            raise SunaUnavailableError(
                f"Suna could not check the workflow's agents ({result.code}: {result}): try "
                "again, or pass check_agents=false to save the team unchecked") from None
        elif isinstance(result, BaseException):
            raise result
        else:
            resolved[name] = result
    if errors:
        raise RequestValidationProblem(
            f"{len(errors)} step(s) name an agent {whose} does not have", errors=errors)
    return resolved


async def freeze_agents(
    accounts: SunaAccounts, account: Account, plan: dict[str, Any]
) -> dict[str, str]:
    """The UUIDs of the plan's agent names in ``account``, as far as Suna says in time."""
    names = [a for a in _agents(plan) if not is_uuid(a)]
    if not names:
        return {}
    try:
        found = await asyncio.wait_for(asyncio.gather(
            *(accounts.agent_id(account, a) for a in names), return_exceptions=True),
            FREEZE_TIMEOUT_S)  # fmt: skip
    except TimeoutError:
        _log.warning("Suna did not resolve agent names in time; the worker will")
        return {}
    frozen = {name: r for name, r in zip(names, found, strict=True) if isinstance(r, str)}
    for r in found:
        if isinstance(r, BaseException) and not isinstance(r, SunaError):
            raise r
    return frozen
