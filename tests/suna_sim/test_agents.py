"""Scripted agents: the shipped ones, file formats, rules, determinism."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from suna_sim import AgentScript, KeywordRule, SunaSimulator, load_agents

EXAMPLE_AGENTS = {"researcher", "analyst", "writer", "classifier", "technical_support",
                  "billing_support", "general"}


def test_shipped_agents() -> None:
    book = load_agents()
    assert set(book.agents) == EXAMPLE_AGENTS and book.default_agent == "general"
    models = {a.model for a in book.agents.values()}
    assert {"openai/gpt-5-mini", "anthropic/claude-sonnet-4"} <= models


@pytest.mark.parametrize(
    ("prompt", "category"),
    [
        ("I was charged twice, please refund", "billing"),
        ("Where is my INVOICE?", "billing"),
        ("The app crashes on start", "technical"),
        ("API returns an error 500", "technical"),
        ("How do I install it?", "technical"),
        ("What are your opening hours?", "general"),
        ("", "general"),
    ],
)
def test_classifier_rule(prompt: str, category: str) -> None:
    classifier = load_agents().agents["classifier"]
    assert json.loads(classifier.render(prompt)) == {"category": category}


def test_keyword_rule_matches_word_starts_only() -> None:
    rule = KeywordRule(categories={"technical": ["api"]})
    assert rule.answer("rapid delivery") == '{"category": "general"}'
    assert rule.answer("the APIs are down") == '{"category": "technical"}'


def test_answers_text_json_and_prompt() -> None:
    assert AgentScript(agent_id="a", answer="Re: {prompt}").render("x") == "Re: x"
    assert AgentScript(agent_id="b", answer={"k": [1, 2]}).render("x") == '{"k": [1, 2]}'


def test_latency_is_fixed_or_seeded_range() -> None:
    fixed = AgentScript(agent_id="a", latency_ms=250)
    assert fixed.latency_s(random.Random(1)) == 0.25
    ranged = AgentScript(agent_id="b", latency_ms=(100, 200))
    first = [ranged.latency_s(random.Random(7)) for _ in range(3)]
    assert len(set(first)) == 1 and 0.1 <= first[0] <= 0.2


def test_file_formats(tmp_path: Path) -> None:
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps([{"agent_id": "x"}, {"agent_id": "y"}]))
    assert load_agents(listed).default_agent == "x"
    keyed = load_agents({"solo": {"answer": "hi", "model": "anthropic/claude-sonnet-4"}})
    assert keyed.agents["solo"].model == "anthropic/claude-sonnet-4"
    assert load_agents({"agents": [{"agent_id": "g"}, {"agent_id": "general"}]}).default_agent \
        == "general"
    with pytest.raises(ValueError):
        load_agents({"agents": [{"agent_id": "a"}], "default_agent": "missing"})
    with pytest.raises(ValidationError):
        load_agents([{"agent_id": "a", "chunks": 0}])
    with pytest.raises(ValidationError):
        load_agents([{"agent_id": "a", "unknown_field": 1}])


async def test_runs_are_deterministic_for_a_seed(w: Any) -> None:
    async def ids(seed: int) -> list[str]:
        async with SunaSimulator(flavour="api-2025", jwt_secret=w.SECRET, seed=seed,
                                 accounts=frozenset(w.ACCOUNTS.values())) as other:
            w.sim = other
            thread_id = await w.thread()
            return [thread_id, await w.start(thread_id)]

    first, second = await ids(5), await ids(5)
    assert not set(first) & set(second)  # ids are unique across restarts
    assert w.sim.run(second[1]).status == "running"


async def test_default_agent_when_none_named(w: Any) -> None:
    thread_id = await w.thread("hello there")
    run_id = await w.start(thread_id, agent_id=None)
    await w.sim.run(run_id).task
    assert w.sim.run(run_id).agent_name == "general"
    assert w.sim.run(run_id).agent_id == w.agent("general")
    assert w.sim.stats().runs_by_agent == {"general": 1}


async def test_several_llm_calls_write_several_usage_rows(w: Any) -> None:
    thread_id = await w.thread("topic")
    run_id = await w.start(thread_id, "researcher")
    await w.sim.run(run_id).task
    _, body, _ = await w.call("GET", f"/api/threads/{thread_id}/messages?order=asc")
    usage_rows = [m for m in body["messages"] if m["type"] == "assistant_response_end"]
    assert len(usage_rows) == 2
    usage = usage_rows[0]["content"]["usage"]
    assert usage["prompt_tokens"] == 1800 and usage["cache_read_input_tokens"] == 1200
    assert usage["prompt_tokens_details"] == {"cached_tokens": 1200}
    assert usage_rows[0]["content"]["model"] == "claude-sonnet-4"  # the provider's name
    answers = [m for m in body["messages"] if m["type"] == "assistant"]
    assert 'Research notes on "topic"' in answers[-1]["content"]["content"]  # in a complete call
    stats = w.sim.stats()
    assert stats.usage.llm_calls == 2 and stats.usage.input_tokens == 3600
    assert stats.usage_by_model["anthropic/claude-sonnet-4"].cached_tokens == 2400
