"""`renum doctor` against the simulator: every check passes, and each failure names a fix."""

from __future__ import annotations

from typing import Any

import pytest

from renum.cli import main
from renum.doctor import diagnose, render
from renum.settings import Settings
from suna_sim import SunaSimulator


def _verdicts(checks: list[Any]) -> dict[str, str]:
    return {c.name: c.verdict for c in checks}


async def test_a_healthy_deployment(settings: Settings, sim: SunaSimulator) -> None:
    checks = await diagnose(settings)
    assert _verdicts(checks) == {
        "suna reachable": "ok", "api flavour": "ok", "credentials": "ok",
        "credentials accepted": "ok", "agents": "ok", "default model": "ok",
        "provider keys": "ok",
    }  # fmt: skip
    text = render(checks)
    assert "v1: GET /v1/agent/start answered 405" in text and "researcher" in text
    assert "FAIL" not in text


async def test_suna_unreachable(settings: Settings) -> None:
    checks = await diagnose(settings.model_copy(update={"suna_base_url": "http://127.0.0.1:1"}))
    verdicts = _verdicts(checks)
    assert verdicts["suna reachable"] == "fail" and checks[0].fix
    assert set(verdicts.values()) == {"fail", "skip"}


async def test_credentials_refused(settings: Settings, sim: SunaSimulator) -> None:
    wrong = settings.model_copy(update={"suna_jwt_secret": "not-the-deployments-secret-0123"})
    checks = {c.name: c for c in await diagnose(wrong)}
    refused = checks["credentials accepted"]
    assert refused.verdict == "fail" and "401" in refused.detail
    assert "SUPABASE_JWT_SECRET" in refused.fix and checks["agents"].verdict == "skip"
    anonymous = settings.model_copy(update={"suna_jwt_secret": None})
    assert _verdicts(await diagnose(anonymous))["credentials"] == "fail"
    named = settings.model_copy(update={"suna_account_id": "renum"})
    check = {c.name: c for c in await diagnose(named)}["credentials"]
    assert check.verdict == "fail" and "not a UUID" in check.detail


@pytest.mark.sim(flavour="api-2025")
async def test_api_2025_needs_a_default_model(settings: Settings, sim: SunaSimulator) -> None:
    checks = {c.name: c for c in await diagnose(settings)}
    assert checks["default model"].verdict == "warn" and "SUNA_DEFAULT_MODEL" in checks[
        "default model"].fix
    pinned = settings.model_copy(update={"suna_api_flavour": "v1"})
    assert {c.name: c for c in await diagnose(pinned)}["api flavour"].verdict == "fail"


@pytest.mark.sim(custom_agents=False)
async def test_custom_agents_off_is_a_warning(settings: Settings, sim: SunaSimulator) -> None:
    assert _verdicts(await diagnose(settings))["agents"] == "warn"


def test_the_command_exits_non_zero_on_a_failure(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SUNA_BASE_URL", "http://127.0.0.1:1")
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  suna reachable" in out and "fix: check SUNA_BASE_URL" in out
