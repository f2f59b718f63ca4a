"""Costly conditions: their steps fail with `condition_too_costly`, and stall no one else."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from suna_sim import SunaSimulator
from tests.conftest import ApiClient
from tests.renum.conftest import Engine
from tests.renum.helpers import create_team, get_json, launch, read_sse

#: A pattern that backtracks exponentially on HOSTILE, so every search times out.
CATASTROPHIC = "(a|aa)+$"
#: The longest prompt a `matches` may search.
HOSTILE = "a" * 99_999 + "!"
#: The most `matches` conditions a workflow may have, each on its own step.
GUARDED = {
    "type": "parallel",
    "agents": [
        {"agent_id": f"guarded_{i}", "role": "r", "input": {"source": "initial_prompt"},
         "on_failure": "continue",
         "conditions": [{"field": "initial_prompt", "operator": "matches",
                         "value": CATASTROPHIC}]}
        for i in range(16)
    ],
}  # fmt: skip
SIMPLE = {"type": "sequential", "agents": [
    {"agent_id": "researcher", "role": "researcher", "input": {"source": "initial_prompt"}},
]}  # fmt: skip
#: Launches of GUARDED ahead of the other tenant's execution: before conditions were
#: bounded, each blocked the worker's event loop for 16 timeouts (0.32 s), 6.4 s in all.
FLOOD = 20


async def _ended(api: ApiClient, execution_id: str, user: str) -> dict[str, Any]:
    while True:
        execution: dict[str, Any] = await get_json(api, f"/v1/executions/{execution_id}",
                                                   user=user)  # fmt: skip
        if execution["status"] in ("completed", "failed", "cancelled"):
            return execution
        await asyncio.sleep(0.02)


async def test_a_condition_too_costly_fails_its_step_with_a_clear_code(
    api: ApiClient, engine: Engine, sim: SunaSimulator
) -> None:
    first: dict[str, Any] = GUARDED["agents"][0]  # type: ignore[index]
    one = {**GUARDED, "agents": [{**first, "on_failure": "fail"}]}
    team_id = await create_team(api, one, check_agents=False)
    execution_id = (await launch(api, team_id, HOSTILE))["execution_id"]
    await engine.drain()
    execution = await get_json(api, f"/v1/executions/{execution_id}")
    assert execution["status"] == "failed"
    assert execution["error"]["code"] == "step_failed"
    assert execution["error"]["cause"] == "condition_too_costly"
    (step,) = execution["steps"]
    assert step["status"] == "failed" and step["attempt"] == 1
    error = step["error"]
    assert error["code"] == "condition_too_costly" and error["bound"] == "regex_timeout_s"
    assert error["step_id"] == "guarded_0" and error["condition"] == 0
    assert "step guarded_0: condition 1" in error["message"]
    assert "initial_prompt" in error["message"] and "0.02 s" in error["message"]
    events = await read_sse(api, f"/v1/executions/{execution_id}/events")
    failed = [e for e in events if e["event"] == "step_failed"]
    assert len(failed) == 1 and failed[0]["data"]["data"]["error"]["code"] == "condition_too_costly"
    assert not [e for e in events if e["event"] in ("step_skipped", "step_started")]
    assert sim.stats().runs_started == 0


async def test_costly_conditions_do_not_stall_another_tenants_execution(
    api: ApiClient, engine: Engine, sim: SunaSimulator
) -> None:
    guarded = await create_team(api, GUARDED, user="mallory", check_agents=False)
    flood = [(await launch(api, guarded, HOSTILE, user="mallory"))["execution_id"]
             for _ in range(FLOOD)]  # fmt: skip
    simple = await create_team(api, SIMPLE)
    execution_id = (await launch(api, simple, "the transistor"))["execution_id"]
    async with engine.running():
        started = time.monotonic()
        execution = await _ended(api, execution_id, "alice")
        latency_s = time.monotonic() - started
        ends = [await _ended(api, i, "mallory") for i in flood]
    assert execution["status"] == "completed", execution
    # alone it takes ~0.3 s; 6.4 s of blocked event loop before the bound
    assert latency_s < 2.5, latency_s
    for end in ends:
        assert end["status"] == "completed"  # (every step failed with `continue`)
        codes = {s["error"]["code"] for s in end["steps"]}
        assert codes == {"condition_too_costly"}, codes
    assert sim.stats().runs_started == 1
