"""Scripted agents: what each simulated agent answers, how fast, at what cost.

An agent file is JSON: ``{"default_agent": "general", "agents": [{...}, …]}``,
a bare list of agents, or an object keyed by agent id. The package ships
``default_agents.json`` with the agents the examples use.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .faults import RunFaults

__all__ = ["AgentBook", "AgentScript", "KeywordRule", "SunaAgent", "load_agents"]


class KeywordRule(BaseModel):
    """Answer ``{field: category}``: the first category with a keyword in the prompt."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["keyword_category"] = "keyword_category"
    field: str = "category"
    categories: dict[str, list[str]]
    """Category → keywords, tried in order; a keyword matches at a word start."""
    default: str = "general"

    def answer(self, prompt: str) -> str:
        """The JSON answer for ``prompt``."""
        for category, keywords in self.categories.items():
            for keyword in keywords:
                if re.search(rf"\b{re.escape(keyword)}", prompt, re.IGNORECASE):
                    return json.dumps({self.field: category})
        return json.dumps({self.field: self.default})


class AgentScript(BaseModel):
    """One simulated agent. Token figures are per LLM call."""

    model_config = ConfigDict(extra="forbid")

    agent_id: str
    name: str = ""
    answer: Any = "Done."
    """Text (``{prompt}`` is replaced by the prompt, ``{key}`` by the first provider key the
    start carried: an agent echoing it) or any JSON value (sent encoded)."""
    rule: KeywordRule | None = None
    """If set, replaces ``answer``."""
    latency_ms: float | tuple[float, float] = 0.0
    """Whole-run latency: fixed, or uniform in ``[min, max]`` (seeded)."""
    chunks: int = Field(3, ge=1)
    """Streamed chunks per LLM call."""
    llm_calls: int = Field(1, ge=1)
    """LLM calls per run; each writes one usage row."""
    model: str = "openai/gpt-5-mini"
    input_tokens: int = Field(120, ge=0)
    output_tokens: int = Field(40, ge=0)
    cached_tokens: int = Field(0, ge=0)
    cache_creation_tokens: int = Field(0, ge=0)
    reasoning_tokens: int = Field(0, ge=0)
    faults: RunFaults | None = None
    """Faults of this agent's runs (overridden by faults set for it at run time)."""

    def render(self, prompt: str) -> str:
        """The final answer text for ``prompt``."""
        if self.rule is not None:
            return self.rule.answer(prompt)
        if isinstance(self.answer, str):
            return self.answer.replace("{prompt}", prompt)
        return json.dumps(self.answer)

    def latency_s(self, rng: random.Random) -> float:
        """This run's latency in seconds."""
        if isinstance(self.latency_ms, tuple):
            low, high = self.latency_ms
            return rng.uniform(low, high) / 1000.0
        return self.latency_ms / 1000.0


class AgentBook(BaseModel):
    """The agents a simulator knows, and the one used when a start names none."""

    agents: dict[str, AgentScript]
    default_agent: str

    def get(self, agent_id: str | None) -> AgentScript | None:
        """The agent ``agent_id`` (the default one for ``None``), or ``None``."""
        return self.agents.get(self.default_agent if agent_id is None else agent_id)


def _scripts(raw: Any) -> list[AgentScript]:
    if isinstance(raw, Mapping):
        return [AgentScript.model_validate({"agent_id": k, **v}) for k, v in raw.items()]
    if isinstance(raw, Sequence) and not isinstance(raw, str):
        return [
            item if isinstance(item, AgentScript) else AgentScript.model_validate(item)
            for item in raw
        ]
    raise ValueError("agents must be a list of agents or an object keyed by agent id")


def load_agents(source: str | Path | Mapping[str, Any] | Sequence[Any] | None = None) -> AgentBook:
    """Agents from a JSON file path, a decoded document, or the shipped defaults."""
    if source is None:
        text = resources.files("suna_sim").joinpath("default_agents.json").read_text("utf-8")
        doc: Any = json.loads(text)
    elif isinstance(source, str | Path):
        doc = json.loads(Path(source).read_text("utf-8"))
    else:
        doc = source
    default: str | None = None
    if isinstance(doc, Mapping) and "agents" in doc:
        default = doc.get("default_agent")
        doc = doc["agents"]
    scripts = _scripts(doc)
    if not scripts:
        raise ValueError("no agents defined")
    agents = {script.agent_id: script for script in scripts}
    default = default or ("general" if "general" in agents else scripts[0].agent_id)
    if default not in agents:
        raise ValueError(f"default agent {default!r} is not defined")
    return AgentBook(agents=agents, default_agent=default)


@dataclass(eq=False, slots=True)
class SunaAgent:
    """An agent as Suna stores it: a UUID owned by one account, a name, a script."""

    agent_id: str
    account_id: str
    name: str
    description: str
    script: AgentScript
    is_default: bool
    created_at: str

    def row(self) -> dict[str, Any]:
        """The agent as ``GET P/agents`` and ``GET P/agents/{id}`` answer it."""
        return {
            "agent_id": self.agent_id, "account_id": self.account_id, "name": self.name,
            "description": self.description, "system_prompt": "", "configured_mcps": [],
            "custom_mcps": [], "agentpress_tools": {}, "is_default": self.is_default,
            "is_public": False, "tags": [], "avatar": None, "avatar_color": None,
            "created_at": self.created_at, "updated_at": self.created_at,
            "current_version_id": None, "version_count": 1, "metadata": {},
        }  # fmt: skip
