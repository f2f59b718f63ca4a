"""Counters over HTTP and in process: runs, duplicates, usage, key headers."""

from __future__ import annotations

import time
from typing import Any

from suna_sim import SimStats


async def test_stats_over_http_match_in_process(w: Any) -> None:
    first = await w.thread()
    run_a = await w.start(first, "classifier",
                          headers={"X-API-Key-openai": "sk-one", "X-API-Key-Anthropic": "ak-two"})
    await w.sim.run(run_a).task
    run_b = await w.start(first, "general")  # a duplicate start on the same thread
    await w.sim.run(run_b).task
    second = await w.thread()
    run_c = await w.start(second, "general", headers={"X-API-Key": "pk_sim:sk_sim_secret"})
    await w.sim.run(run_c).task
    status, body, _ = await w.call("GET", "/_sim/stats", account=None)
    assert status == 200
    stats = SimStats.model_validate(body)
    assert stats == w.sim.stats()
    assert stats.runs_started == 3 and stats.threads == 2
    assert stats.runs_by_thread == {first: 2, second: 1}
    assert stats.runs_by_agent == {"classifier": 1, "general": 2}
    assert stats.duplicate_starts == 1 and stats.duplicate_threads == [first]
    assert stats.runs_by_status == {"completed": 3} and stats.running == 0
    assert stats.key_headers[run_a] == {"openai": "sk-one", "anthropic": "ak-two"}
    assert stats.key_headers[run_c] == {}  # X-API-Key is Suna's auth, not a user key
    assert stats.usage.llm_calls == 3
    assert stats.usage.input_tokens == 300 + 400 + 400
    assert stats.requests["start_agent"] == 3 and stats.streams_total == 0


async def test_run_info_has_done_timestamp(w: Any) -> None:
    before = time.time()
    run_id = await w.start(await w.thread("hi"), "general")
    await w.sim.run(run_id).task
    status, info, _ = await w.call("GET", f"/_sim/runs/{run_id}", account=None)
    assert status == 200
    assert info["status"] == "completed" and info["prompt"] == "hi"
    assert before <= info["done_ts"] <= time.time()
    assert info["agent_name"] == "general" and info["agent_id"] == w.agent("general")
    assert info["model"] == "openai/gpt-5-mini"
    status, _, _ = await w.call("GET", "/_sim/runs/nope", account=None)
    assert status == 404


async def test_agents_route(w: Any) -> None:
    status, body, _ = await w.call("GET", "/_sim/agents", account=None)
    assert status == 200 and body["default_agent"] == "general"
    assert "classifier" in body["agents"]
    assert body["suna_agents"] == []  # the development account does not exist here
    _, mine, _ = await w.call("GET", f"/_sim/agents?account={w.account_id('alice')}",
                              account=None)  # fmt: skip
    named = {a["name"]: a["agent_id"] for a in mine["suna_agents"]}
    assert named["classifier"] == w.agent("classifier")
