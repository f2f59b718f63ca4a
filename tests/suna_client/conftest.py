"""The client is tested against the real simulator over loopback HTTP.

Each test gets a fresh simulator (ephemeral port, its own state) of each of
Suna's API flavours (the ``sim`` fixture is parametrized) and a client with
short backoffs, so that retries and reconnects cost milliseconds. Tests of
one flavour's routes ask for it with ``@pytest.mark.flavours("api-2025")``. Test
modules cannot import this file (importlib mode), so constants and helpers
come through the ``h`` fixture.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from suna_client import (
    BreakerConfig,
    JwtAuth,
    RetryPolicy,
    StartRequest,
    SunaClient,
    Timeouts,
)
from suna_sim import FLAVOURS, SunaSimulator, agent_uuid

SECRET = "test-secret-for-suna-sim-0123456789abcdef"
ACCOUNT = "acc0a000-0000-4000-8000-00000000000a"
MODEL = "openai/gpt-5-mini"
API_KEY = "pk_test:sk_test_secret_value"
CANARY = "sk-canary-7f3a9c2e1b"

FAST_RETRY = RetryPolicy(
    backoff_initial_s=0.01,
    backoff_max_s=0.05,
    jitter_s=0.0,
    poll_initial_s=0.02,
    poll_max_s=0.1,
)
FAST_TIMEOUTS = Timeouts(request_s=5.0, stream_idle_s=5.0, run_s=20.0, confirm_s=2.0,
                         late_run_s=0.3)

TEST_AGENTS: dict[str, Any] = {
    "default_agent": "echo",
    "agents": [
        {"agent_id": "echo", "answer": "Echo: {prompt}", "chunks": 4},
        {"agent_id": "slow", "answer": "slow and steady", "latency_ms": 300, "chunks": 6},
        {
            "agent_id": "multi",
            "answer": "final answer",
            "llm_calls": 3,
            "chunks": 3,
            "model": "anthropic/claude-sonnet-4",
            "input_tokens": 1000,
            "output_tokens": 100,
            "cached_tokens": 600,
            "cache_creation_tokens": 50,
        },
        {
            "agent_id": "thinker",
            "answer": {"verdict": "ok", "score": 3},
            "model": "openai/gpt-5-mini",
            "input_tokens": 500,
            "output_tokens": 80,
            "cached_tokens": 128,
            "reasoning_tokens": 64,
        },
        {"agent_id": "hanger", "answer": "never", "chunks": 4, "faults": {"hang_rate": 1.0}},
    ],
}


def _make_client(base_url: str, **overrides: Any) -> SunaClient:
    """A client of ``base_url`` with test-speed retries."""
    options: dict[str, Any] = {
        "auth": JwtAuth(SECRET, ACCOUNT),
        "retry": FAST_RETRY,
        "timeouts": FAST_TIMEOUTS,
        "breaker": BreakerConfig(failure_threshold=50, cooldown_s=0.2),
    }
    options.update(overrides)
    return SunaClient(base_url, **options)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that uses the simulator runs once per flavour (or those it marks)."""
    if "flavour" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("flavours")
        metafunc.parametrize("flavour", marker.args if marker else FLAVOURS)


def sim_options(flavour: str, **overrides: Any) -> dict[str, Any]:
    """The simulator settings of these tests (the test account exists, fast sandboxes)."""
    options: dict[str, Any] = {
        "flavour": flavour, "agents": TEST_AGENTS, "jwt_secret": SECRET,
        "api_keys": {API_KEY: ACCOUNT}, "accounts": frozenset({ACCOUNT}),
        "sandbox_latency_ms": 0, "pickup_delay_ms": 0,
    }  # fmt: skip
    options.update(overrides)
    return options


@pytest.fixture
async def sim(flavour: str) -> AsyncIterator[SunaSimulator]:
    async with SunaSimulator(**sim_options(flavour)) as simulator:
        yield simulator


@pytest.fixture
async def client(sim: SunaSimulator) -> AsyncIterator[SunaClient]:
    async with _make_client(sim.base_url) as suna:
        yield suna


class Harness:
    """Constants and helpers shared by the client tests."""

    SECRET = SECRET
    ACCOUNT = ACCOUNT
    API_KEY = API_KEY
    CANARY = CANARY
    FAST_RETRY = FAST_RETRY
    FAST_TIMEOUTS = FAST_TIMEOUTS
    MODEL = MODEL

    def __init__(self, sim: SunaSimulator, client: SunaClient) -> None:
        self.sim = sim
        self.client = client
        self.flavour = sim.flavour
        self.p = "/v1" if sim.flavour == "v1" else "/api"
        """The flavour's route prefix."""

    @staticmethod
    def sim_options(flavour: str, **overrides: Any) -> dict[str, Any]:
        """Settings for another simulator like the test's."""
        return sim_options(flavour, **overrides)

    @staticmethod
    def agent(name: str) -> str:
        """The UUID of a test agent in the test account."""
        return agent_uuid(ACCOUNT, name)

    def make_client(self, base_url: str | None = None, **overrides: Any) -> SunaClient:
        """Another client (of the simulator by default, of its flavour) with test-speed
        retries."""
        overrides.setdefault("flavour", self.flavour)
        return _make_client(base_url or self.sim.base_url, **overrides)

    async def new_thread(self, prompt: str = "hello", client: SunaClient | None = None) -> str:
        """A thread with one user message (threads and messages routes: every flavour)."""
        suna = client or self.client
        thread = await suna.create_thread()
        await suna.add_message(thread.thread_id, prompt)
        return thread.thread_id

    async def start_on(
        self, thread_id: str, *, client: SunaClient | None = None, agent: str | None = None,
        **kwargs: Any,
    ) -> str:  # fmt: skip
        """The run id of a start on an existing thread whose prompt is in it."""
        suna = client or self.client
        request = StartRequest(thread_id=thread_id, model_name=MODEL,
                               agent_id=self.agent(agent) if agent else None)  # fmt: skip
        return (await suna.start(request, **kwargs)).agent_run_id

    async def started(
        self, agent_id: str = "echo", prompt: str = "hello", *,
        client: SunaClient | None = None, model: str | None = MODEL, **kwargs: Any,
    ) -> tuple[str, str]:  # fmt: skip
        """(thread id, run id) of a run of agent ``agent_id`` (a name) on a fresh thread."""
        suna = client or self.client
        request = StartRequest(prompt=prompt, agent_id=self.agent(agent_id), model_name=model)
        started = await suna.start(request, **kwargs)
        return started.thread_id, started.agent_run_id


@pytest.fixture
def h(sim: SunaSimulator, client: SunaClient) -> Harness:
    return Harness(sim, client)
