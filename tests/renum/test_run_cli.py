"""`renum run` as a subprocess against the API, a worker and the simulator over loopback."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from renum.auth import verify_token
from renum.runner_cli import resolve_token
from renum.settings import Settings
from suna_sim import SunaSimulator
from tests.conftest import TEST_JWT_SECRET, ApiClient
from tests.renum.conftest import EXAMPLES, Engine
from tests.renum.helpers import get_json


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RENUM_", "SUNA_"))}
    env.update({"COLUMNS": "200", "NO_COLOR": "1", "RENUM_LOG_LEVEL": "warning"})
    return env


async def _renum_run(api: ApiClient, *args: str, stdin: bool = False) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "renum",
        "run",
        *args,
        "--url",
        api.base_url,
        "--token",
        api.token(),
        env=_env(),
        stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_run_follows_the_support_router_to_completion(
    api: ApiClient, engine: Engine, sim: SunaSimulator
) -> None:
    router = str(EXAMPLES / "support-router.json")
    async with engine.running():
        proc = await _renum_run(api, router, "--prompt", "My invoice is wrong")
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        again = await _renum_run(api, router, "--prompt", "The app crashes", "--json")
        out2, err2 = await asyncio.wait_for(again.communicate(), 60)
        assert again.returncode == 0, err2.decode()
    text = out.decode()
    assert "support-router → execution" in text
    assert "✓ classifier" in text and "✓ billing_support" in text
    assert "· technical_support" in text and "skipped" in text
    assert "tok" in text and "$" in text
    assert text.strip().splitlines()[-1].startswith("completed in ")
    lines = [json.loads(line) for line in out2.decode().splitlines()]
    assert lines[0]["type"] == "launched"
    summary = lines[-1]
    assert summary["type"] == "summary" and summary["status"] == "completed"
    assert summary["input_tokens"] > 0
    assert any(
        e["type"] == "step_completed" and e["data"]["step_id"] == "technical_support" for e in lines
    )
    teams = await get_json(api, "/v1/teams")
    assert [t["name"] for t in teams["items"]] == ["support-router"]  # updated, not duplicated
    assert lines[0]["team_id"] == teams["items"][0]["id"]


async def test_run_exits_1_when_the_execution_fails(
    api: ApiClient, engine: Engine, sim: SunaSimulator
) -> None:
    sim.set_faults({"agents": {"analyst": {"fail_rate": 1.0}}})
    async with engine.running():
        proc = await _renum_run(
            api, str(EXAMPLES / "seed-sequential.json"), "--prompt", "x", "--name", "seq", "--json"
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1, err.decode()
    summary = json.loads(out.decode().splitlines()[-1])
    assert summary["status"] == "failed"
    assert summary["error"]


async def test_ctrl_c_asks_then_cancels(api: ApiClient, engine: Engine, sim: SunaSimulator) -> None:
    sim.set_faults({"agents": {"researcher": {"hang_rate": 1.0}}})
    async with engine.running():
        proc = await _renum_run(
            api, str(EXAMPLES / "seed-sequential.json"), "--prompt", "x", "--json", stdin=True
        )
        assert proc.stdout is not None and proc.stdin is not None
        lines: list[dict[str, Any]] = []
        while not any(e.get("type") == "step_started" for e in lines):
            lines.append(json.loads(await asyncio.wait_for(proc.stdout.readline(), 30)))
        proc.send_signal(signal.SIGINT)
        proc.stdin.write(b"y\n")
        await proc.stdin.drain()
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1, err.decode()
    assert "Cancel execution" in err.decode()
    summary = json.loads(out.decode().splitlines()[-1])
    assert summary["status"] == "cancelled"
    execution = await get_json(api, f"/v1/executions/{lines[0]['execution_id']}")
    assert execution["status"] == "cancelled"


async def test_run_reports_api_problems(api: ApiClient, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"type": "sequential", "agents": []}))
    proc = await _renum_run(api, str(bad), "--prompt", "x")
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert "422" in err.decode() and "/workflow" in err.decode()


def test_token_defaults_to_the_dev_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RENUM_TOKEN", "RENUM_JWT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RENUM_DATA_DIR", str(tmp_path))
    assert resolve_token(None) is None
    (tmp_path / "jwt_secret").write_text(TEST_JWT_SECRET + "\n")
    token = resolve_token(None)
    assert token is not None
    settings = Settings(RENUM_JWT_SECRET=TEST_JWT_SECRET)
    assert verify_token(token, settings).user_id == "dev-user"
    monkeypatch.setenv("RENUM_TOKEN", "given")
    assert resolve_token(None) == "given"
    assert resolve_token("flag") == "flag"
