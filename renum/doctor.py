"""``renum doctor``: is this deployment's Suna usable? One line per check, with a fix.

Checks, in order (a check that cannot run because an earlier one failed says so):
Suna reachable; which API flavour it speaks; service credentials set and
accepted; the service account; its agents visible; a default model where the
flavour needs one. Nothing is created in Suna (a thread would cost a sandbox).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import aiohttp

from renum.settings import Settings
from renum.suna import build_suna_client
from suna_client import (
    SunaAgentsDisabledError,
    SunaConnectionError,
    SunaError,
    SunaFlavourError,
    SunaInvalidIdError,
    SunaStatusError,
    probe,
)
from suna_client.errors import check_uuid

__all__ = ["Check", "diagnose", "render"]

Verdict = Literal["ok", "warn", "fail", "skip"]


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the diagnosis."""

    name: str
    verdict: Verdict
    detail: str
    fix: str = ""


async def _reachable(settings: Settings) -> Check:
    url = settings.suna_base_url
    try:
        async with aiohttp.ClientSession() as session, session.get(
            url, timeout=aiohttp.ClientTimeout(total=10)
        ) as resp:
            status = resp.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        return Check("suna reachable", "fail", f"{url}: {type(exc).__name__}: {exc}",
                     "check SUNA_BASE_URL and that Suna is running")  # fmt: skip
    return Check("suna reachable", "ok", f"{url} answered {status}")


async def _flavour(settings: Settings) -> tuple[Check, str | None]:
    async with aiohttp.ClientSession() as session:
        try:
            found, why = await probe(session, settings.suna_base_url)
        except (SunaFlavourError, SunaConnectionError) as exc:
            return Check("api flavour", "fail", str(exc),
                         "set SUNA_API_FLAVOUR to api-2025, agent-start or v1"), None  # fmt: skip
    wanted = settings.suna_api_flavour
    if wanted not in ("auto", found):
        return Check("api flavour", "fail", f"SUNA_API_FLAVOUR={wanted}, but Suna speaks "
                     f"{found} ({why})", f"set SUNA_API_FLAVOUR={found} or auto"), found
    return Check("api flavour", "ok", f"{found}: {why}"), found


def _credentials(settings: Settings) -> Check:
    if settings.suna_api_key:
        return Check("credentials", "ok", "SUNA_API_KEY (an account API key) is set")
    if settings.suna_jwt_secret:
        try:
            check_uuid("account", settings.suna_account_id)
        except SunaInvalidIdError:
            return Check("credentials", "fail",
                         f"SUNA_ACCOUNT_ID={settings.suna_account_id!r} is not a UUID: "
                         "Suna answers a token for it with 500",
                         "set SUNA_ACCOUNT_ID to the Suna account's user id")  # fmt: skip
        return Check("credentials", "ok", f"a service JWT for account "
                     f"{settings.suna_account_id} (SUNA_JWT_SECRET)")  # fmt: skip
    return Check("credentials", "fail", "neither SUNA_API_KEY nor SUNA_JWT_SECRET is set",
                 "set SUNA_API_KEY to an account API key (pk_xxx:sk_xxx)")  # fmt: skip


async def _account(settings: Settings) -> list[Check]:
    """Credentials accepted and agents visible: one authenticated read, the agent list."""
    async with build_suna_client(settings) as suna:
        try:
            page = await suna.list_agents(limit=100)
        except SunaAgentsDisabledError:
            return [Check("credentials accepted", "ok", "Suna answered the agent list"),
                    Check("agents", "warn", "the deployment's custom agents are off (403)",
                          "steps must name no agent (the account's default) or agent UUIDs")]
        except SunaStatusError as exc:
            if exc.status == 401:
                fix = ("check SUNA_API_KEY" if settings.suna_api_key else
                       "SUNA_JWT_SECRET must be the deployment's SUPABASE_JWT_SECRET; a hosted "
                       "Suna takes only an account API key (SUNA_API_KEY)")  # fmt: skip
                return [Check("credentials accepted", "fail", f"Suna refused them: {exc}", fix),
                        Check("agents", "skip", "needs accepted credentials")]
            return [Check("credentials accepted", "fail", str(exc), "see Suna's logs"),
                    Check("agents", "skip", "needs accepted credentials")]
        except SunaError as exc:  # unreachable, timed out, malformed
            return [Check("credentials accepted", "fail", str(exc), "see Suna's logs"),
                    Check("agents", "skip", "needs accepted credentials")]
    names = sorted(a.name for a in page.agents)
    shown = ", ".join(names[:8]) + (", …" if len(names) > 8 else "")
    agents = (Check("agents", "ok", f"{page.total} visible: {shown}") if page.total else
              Check("agents", "warn", "the account has no agents",
                    "create agents in Suna, or let steps run the account's default"))  # fmt: skip
    return [Check("credentials accepted", "ok", "Suna answered an authenticated read"), agents]


def _model(settings: Settings, flavour: str | None) -> Check:
    if settings.suna_default_model:
        return Check("default model", "ok", f"SUNA_DEFAULT_MODEL={settings.suna_default_model}")
    if flavour == "api-2025":
        return Check("default model", "warn", "api-2025 fails every run started without a "
                     "model, and SUNA_DEFAULT_MODEL is unset: steps (or workflows) must name one",
                     "set SUNA_DEFAULT_MODEL (e.g. openai/gpt-5-mini), or a model on every "
                     "step")  # fmt: skip
    return Check("default model", "ok", "unset: steps without a model use the account's default")


async def diagnose(settings: Settings) -> list[Check]:
    """Every check, in order."""
    checks = [await _reachable(settings)]
    if checks[0].verdict == "fail":
        return checks + [Check(name, "skip", "Suna is not reachable") for name in
                         ("api flavour", "credentials", "credentials accepted", "agents",
                          "default model")]  # fmt: skip
    flavour_check, flavour = await _flavour(settings)
    checks.append(flavour_check)
    credentials = _credentials(settings)
    checks.append(credentials)
    if flavour is None or credentials.verdict == "fail":
        reason = "needs a flavour and credentials"
        checks += [Check("credentials accepted", "skip", reason), Check("agents", "skip", reason)]
    else:
        checks += await _account(settings)
    checks.append(_model(settings, flavour))
    forwarding = "on" if settings.suna_forward_provider_keys else "off (stock Suna reads none)"
    checks.append(Check("provider keys", "ok", f"forwarding {forwarding}"))
    return checks


def render(checks: list[Check]) -> str:
    """The diagnosis as text, one line per check (and its fix)."""
    width = max(len(c.name) for c in checks)
    lines = []
    for check in checks:
        line = f"{check.verdict.upper():4}  {check.name:{width}}  {check.detail}"
        if check.fix:
            line += f"\n      {'':{width}}  fix: {check.fix}"
        lines.append(line)
    return "\n".join(lines) + "\n"
