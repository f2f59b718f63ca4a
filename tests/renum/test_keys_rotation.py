"""`renum keys rotate`: re-wrap every stored key under the current master key, online."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from typing import Any

import pytest

from renum.keys import KeyRing, generate_master_key
from renum.settings import Settings
from renum.vault import open_keys, put_key, rotate
from suna_sim import SunaSimulator
from tests.conftest import TEST_MASTER_KEYS, ApiClient
from tests.renum.conftest import Engine
from tests.renum.helpers import create_team, get_json, launch

NEW_KEY = generate_master_key("k2")
SLOW = {"agents": [
    {"agent_id": "first", "answer": "one: {prompt}", "latency_ms": 300},
    {"agent_id": "second", "answer": "two: {prompt}", "latency_ms": 300},
    {"agent_id": "third", "answer": "three: {prompt}", "latency_ms": 300},
]}  # fmt: skip
THREE_STEPS = {"type": "sequential", "agents": [
    {"agent_id": "first", "role": "first", "input": {"source": "initial_prompt"}},
    {"agent_id": "second", "role": "second",
     "input": {"source": "agent_result", "agent_id": "first"}},
    {"agent_id": "third", "role": "third",
     "input": {"source": "agent_result", "agent_id": "second"}},
]}  # fmt: skip


def with_ring(settings: Settings, spec: str) -> Settings:
    """The same settings with another RENUM_MASTER_KEYS."""
    values: dict[str, Any] = {
        str(f.validation_alias.choices[0]): getattr(settings, name)  # type: ignore[union-attr]
        for name, f in Settings.model_fields.items()
        if name in settings.model_fields_set and name != "master_keys"
    }
    values["SUNA_FORWARD_PROVIDER_KEYS"] = True  # what is checked: the keys each start sent
    return Settings(**values, RENUM_MASTER_KEYS=spec)


def old_ring() -> KeyRing:
    return KeyRing.parse(TEST_MASTER_KEYS)


async def test_rotate_rewraps_every_key_in_batches(db: Any) -> None:
    for i in range(7):
        await put_key(db, old_ring(), f"user{i % 3}", f"svc{i}", f"sk-value-{i:012d}")
    before = {(r["user_id"], r["service"]): r["updated_at"]
              for r in await db.fetch("SELECT * FROM user_keys")}  # fmt: skip
    ring = KeyRing.parse(f"{NEW_KEY},{TEST_MASTER_KEYS}")
    report = await rotate(db, ring, batch=3)
    assert (report.rewrapped, report.batches, report.remaining) == (7, 3, 0)
    assert not report.failed
    rows = await db.fetch("SELECT * FROM user_keys")
    assert {r["key_id"] for r in rows} == {"k2"}
    assert {(r["user_id"], r["service"]): r["updated_at"] for r in rows} == before
    only_new = KeyRing.parse(NEW_KEY)  # the old key can go now
    assert await open_keys(db, only_new, "user0") == {
        "svc0": "sk-value-000000000000", "svc3": "sk-value-000000000003",
        "svc6": "sk-value-000000000006"}  # fmt: skip
    again = await rotate(db, ring, batch=3)
    assert (again.rewrapped, again.remaining) == (0, 0)


async def test_rotate_reports_keys_it_cannot_open(db: Any) -> None:
    lost = KeyRing.parse(generate_master_key("k0"))
    await put_key(db, lost, "alice", "openai", "sk-lost-0000000000")
    await put_key(db, old_ring(), "alice", "github", "ghp-kept-0000000000")
    report = await rotate(db, KeyRing.parse(f"{NEW_KEY},{TEST_MASTER_KEYS}"), batch=10)
    assert report.rewrapped == 1 and report.remaining == 1
    assert list(report.failed) == ["alice/openai"]
    assert "'k0'" in report.failed["alice/openai"]
    assert "sk-lost" not in str(report)


def test_cli_rotate(db: Any, settings: Settings) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RENUM_")}
    env.update(DATABASE_URL=str(settings.database_url), REDIS_URL=str(settings.redis_url),
               RENUM_MASTER_KEYS=f"{NEW_KEY},{TEST_MASTER_KEYS}")  # fmt: skip
    run = [sys.executable, "-m", "renum", "keys", "rotate", "--batch", "2"]
    result = subprocess.run(run, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "re-wrapped 0 key(s) under master key 'k2'" in result.stdout
    assert "test1 may now be removed" in result.stdout
    bad = subprocess.run([*run[:-1], "0"], env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--batch" in bad.stderr


@pytest.mark.sim(agents=SLOW)
async def test_rotation_under_load_then_old_key_removed(
    api: ApiClient, settings: Settings, sim: SunaSimulator, db: Any
) -> None:
    users = [f"user{i}" for i in range(5)]
    for user in users:
        await put_key(db, old_ring(), user, "openai", f"sk-{user}-openai-000000")
    for i in range(150):  # other users' keys: the rotation takes many batches
        await put_key(db, old_ring(), f"filler{i}", "openai", f"sk-filler-{i:010d}")
    executions = []
    for user in users:
        team = await create_team(api, THREE_STEPS, user=user)
        for n in range(2):
            executions.append((user, (await launch(api, team, f"p{n}", user=user))[
                "execution_id"]))  # fmt: skip

    both = Engine(with_ring(settings, f"{NEW_KEY},{TEST_MASTER_KEYS}"))
    async with both.running():
        await asyncio.sleep(0.4)  # steps are starting (and decrypting) now
        report = await rotate(db, both.settings.key_ring, batch=5)
        assert report.rewrapped == 155 and report.remaining == 0 and report.batches == 31
        started = await db.fetchval("SELECT count(*) FROM step_runs")
        assert 0 < started < 30  # the rotation ran while executions were mid-way
        await asyncio.sleep(0.3)  # more starts, now opening re-wrapped keys
    assert {r["key_id"] for r in await db.fetch("SELECT key_id FROM user_keys")} == {"k2"}

    await Engine(with_ring(settings, NEW_KEY)).drain()  # the old master key is gone
    for user, execution_id in executions:
        execution = await get_json(api, f"/v1/executions/{execution_id}", user=user)
        assert execution["status"] == "completed", execution
        for step in execution["steps"]:
            assert step["attempt"] == 1, step
            sent = sim.stats().key_headers[step["suna_run_id"]]
            assert sent == {"openai": f"sk-{user}-openai-000000"}
