"""Every failed step says why, in words an operator can act on; Suna down is waited out."""

from __future__ import annotations

from typing import Any

import pytest

from renum.engine.steps import MAX_STARTS_PER_ATTEMPT
from renum.settings import Settings
from suna_sim import SunaSimulator
from tests.conftest import ApiClient
from tests.renum.conftest import Engine
from tests.renum.helpers import create_team, get_json, launch, read_sse


def _one_step(**options: Any) -> dict[str, Any]:
    return {"type": "sequential", "agents": [
        {"agent_id": "researcher", "role": "researcher", "input": {"source": "initial_prompt"},
         "retry": {"max_attempts": 3, "backoff_s": 0.01}, **options}]}  # fmt: skip


async def _run(api: ApiClient, engine: Engine, workflow: dict[str, Any],
               name: str = "team") -> dict[str, Any]:  # fmt: skip
    team_id = await create_team(api, workflow, name=name)
    execution_id = (await launch(api, team_id))["execution_id"]
    await engine.drain()
    execution: dict[str, Any] = await get_json(api, f"/v1/executions/{execution_id}")
    return execution


async def test_refused_credentials_fail_at_once_and_say_what_to_fix(
    api: ApiClient, settings: Settings, sim: SunaSimulator
) -> None:
    wrong = settings.model_copy(update={"suna_jwt_secret": "not-the-secret-0123456789-abcdef"})
    execution = await _run(api, Engine(wrong), _one_step())
    step = execution["steps"][0]
    assert execution["status"] == "failed" and step["status"] == "failed"
    assert step["attempt"] == 1  # a refusal is not retried
    assert step["error"]["code"] == "suna_unauthorized" and step["error"]["suna_status"] == 401
    assert "SUNA_API_KEY" in step["error"]["message"]
    assert settings.suna_account_id in step["error"]["message"]
    assert execution["error"]["cause"] == "suna_unauthorized"
    assert "SUNA_API_KEY" in execution["error"]["message"]
    assert sim.stats().runs_started == 0


async def test_unreachable_suna_is_waited_for_then_the_attempt_says_so(
    api: ApiClient, settings: Settings
) -> None:
    down = settings.model_copy(update={"suna_base_url": "http://127.0.0.1:9"})
    execution_id = (await launch(api, await create_team(api, _one_step(
        timeout_s=3, retry={"max_attempts": 1}))))["execution_id"]  # fmt: skip
    await Engine(down).drain()
    execution = await get_json(api, f"/v1/executions/{execution_id}")
    step = execution["steps"][0]
    # the attempt is on record, with its error: no step is left pending or running
    assert step["status"] == "failed" and step["attempt"] == 1
    assert step["error"]["code"] == "suna_unreachable" and step["error"]["retryable"]
    assert "unreachable" in step["error"]["message"]
    events = await read_sse(api, f"/v1/executions/{execution_id}/events")
    waiting = [e["data"]["data"] for e in events if e["event"] == "step_waiting"]
    assert waiting == [{"step_id": "researcher", "reason": "suna_unreachable",
                        "error": "suna_unreachable"}]  # fmt: skip
    kinds = [e["event"] for e in events]
    assert kinds.index("step_started") < kinds.index("step_waiting") < kinds.index("step_failed")


@pytest.mark.sim(thread_limit=0)
async def test_a_suna_plan_quota_is_not_a_budget(
    api: ApiClient, engine: Engine, sim: SunaSimulator
) -> None:
    execution = await _run(api, engine, _one_step())
    step = execution["steps"][0]
    assert execution["status"] == "failed" and step["attempt"] == 1
    assert step["error"]["code"] == "suna_quota_exceeded"
    message = step["error"]["message"]
    assert "threads" in message and "not a Renum budget" in message
    assert sim.stats().runs_started == 0


@pytest.mark.sim(allowed_models=frozenset({"openai/gpt-4o-mini"}))
async def test_a_model_the_plan_refuses_names_the_fix(
    api: ApiClient, engine: Engine, sim: SunaSimulator
) -> None:
    execution = await _run(api, engine, _one_step(model="anthropic/claude-sonnet-4"))
    step = execution["steps"][0]
    assert step["error"]["code"] == "suna_forbidden" and step["attempt"] == 1
    assert "model" in step["error"]["message"] and "subscription plan" in step["error"]["message"]
    ok = await _run(api, engine, _one_step(model="openai/gpt-4o-mini"), "allowed")
    assert ok["status"] == "completed", ok


@pytest.mark.sim(flavour="api-2025",
                 faults={"routes": [{"kind": "error", "route": "start_agent", "status": 503}]})
async def test_starts_suna_refuses_back_off_and_are_bounded(
    api: ApiClient, engine: Engine, sim: SunaSimulator
) -> None:
    """Every start answered 503: an attempt makes a bounded number of starts, further and
    further apart, instead of one every half second until its timeout."""
    execution = await _run(api, engine, _one_step(timeout_s=30, retry={"max_attempts": 1},
                                                  model="openai/gpt-5-mini"))
    step = execution["steps"][0]
    assert step["status"] == "failed" and step["error"]["code"] == "suna_server_error"
    assert sim.stats().requests["start_agent"] == MAX_STARTS_PER_ATTEMPT
    assert sim.stats().runs_started == 0
