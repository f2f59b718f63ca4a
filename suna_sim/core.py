"""The simulated Suna's behaviour, without HTTP: ownership checks, run
admission (agent, billing, parallel-run limit), starts, stops, counters."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

from .agents import AgentBook, AgentScript
from .config import SimConfig
from .faults import ROUTE_NAMES, FaultBox, Faults
from .http import ApiError
from .ids import fresh_id
from .runner import execute
from .state import Clock, SimRun, SimThread
from .stats import SimStats, UsageTally

__all__ = ["SimCore"]


class SimCore:
    """All state of one simulator; every method runs on its event loop."""

    route_names = frozenset(ROUTE_NAMES)

    def __init__(self, config: SimConfig, agents: AgentBook, faults: Faults | None = None) -> None:
        self.config = config
        self.agents = agents
        self.faults = FaultBox(faults, seed=config.seed)
        self.clock = Clock()
        self._clear()

    def _clear(self) -> None:
        self.threads: dict[str, SimThread] = {}
        self.runs: dict[str, SimRun] = {}
        self.running: dict[str, set[str]] = {}
        self.runs_by_thread: Counter[str] = Counter()
        self.runs_by_agent: Counter[str] = Counter()
        self.duplicate_threads: list[str] = []
        self.requests: Counter[str] = Counter()
        self.usage = UsageTally()
        self.streams_open = 0
        self.streams_total = 0

    def reset(self) -> None:
        """Forget every thread, run, counter and fault (agents and config stay)."""
        for run in self.runs.values():
            if run.task is not None and not run.task.done():
                run.task.cancel()
        self._clear()
        self.faults.set(Faults())
        self.faults.injected.clear()

    def count_request(self, route: str) -> None:
        """Count one request to ``route``."""
        self.requests[route] += 1

    @staticmethod
    def new_id() -> str:
        """A fresh random UUID: unique across restarts (a seeded RNG repeated them)."""
        return fresh_id()

    def create_thread(self, account_id: str, name: str) -> SimThread:
        """A new thread (and project) owned by ``account_id``."""
        thread = SimThread(
            thread_id=self.new_id(), project_id=self.new_id(), account_id=account_id,
            name=name or "New Project", created_at=self.clock.now(),
        )
        self.threads[thread.thread_id] = thread
        return thread

    def thread_for(self, account_id: str, thread_id: str) -> SimThread:
        """The thread if ``account_id`` owns it; Suna's 404/403 otherwise."""
        thread = self.threads.get(thread_id)
        if thread is None:
            raise ApiError(404, "Thread not found")
        if thread.account_id != account_id:
            raise ApiError(403, "Not authorized to access this thread")
        return thread

    def run_for(self, account_id: str, run_id: str) -> SimRun:
        """The run if ``account_id`` owns its thread; Suna's 404/403 otherwise."""
        run = self.runs.get(run_id)
        if run is None:
            raise ApiError(404, "Agent run not found")
        if run.account_id != account_id:
            raise ApiError(403, "Not authorized to access this thread")
        return run

    def store(
        self, thread: SimThread, kind: str, content: Any, metadata: dict[str, Any], *,
        is_llm: bool, agent_id: str | None = None,
    ) -> dict[str, Any]:
        """Store a message row (content/metadata as objects) and return it."""
        now = self.clock.now()
        row = {
            "message_id": self.new_id(), "thread_id": thread.thread_id, "type": kind,
            "is_llm_message": is_llm, "content": content, "metadata": metadata,
            "agent_id": agent_id, "agent_version_id": None, "created_at": now, "updated_at": now,
        }
        thread.messages.append(row)
        return row

    @staticmethod
    def streamed(row: dict[str, Any]) -> dict[str, Any]:
        """A row as the stream carries it: content and metadata JSON-encoded."""
        encoded = {"content": json.dumps(row["content"]), "metadata": json.dumps(row["metadata"])}
        return {**row, **encoded}

    def admit(self, account_id: str, agent_id: str | None) -> AgentScript:
        """The agent to run, after Suna's checks: 404 agent, 402 billing, run limit."""
        script = self.agents.get(agent_id)
        if script is None:
            raise ApiError(404, "Agent not found or access denied")
        if self.faults.out_of_credit(account_id):
            raise ApiError(402, {
                "message": "Monthly limit of 60 minutes reached. "
                "Please upgrade your plan or wait until next month.",
                "subscription": {"price_id": "free", "plan_name": "free"},
            })
        limit = self.config.max_parallel_runs
        running = self.running.get(account_id, set())
        if limit and len(running) >= limit:
            thread_ids = sorted({self.runs[r].thread_id for r in running})
            detail: dict[str, Any] = {
                "message": f"Maximum of {limit} parallel agent runs allowed within 24 hours. "
                f"You currently have {len(running)} running.",
                "running_thread_ids": thread_ids, "running_count": len(running), "limit": limit,
            }
            if self.config.run_limit_status == 402:
                detail["error_code"] = "AGENT_RUN_LIMIT_EXCEEDED"
            raise ApiError(self.config.run_limit_status, detail)
        return script

    def start_run(
        self, account_id: str, thread: SimThread, script: AgentScript, *,
        model_name: str | None, key_headers: dict[str, str],
    ) -> SimRun:
        """Create a run on ``thread`` and launch its scripted execution."""
        prompt = next(
            (m["content"].get("content", "") for m in reversed(thread.messages)
             if m["type"] == "user" and isinstance(m["content"], dict)),
            "",
        )
        now = self.clock.now()
        run = SimRun(
            id=self.new_id(), thread_id=thread.thread_id, account_id=account_id,
            agent_id=script.agent_id, model=model_name or script.model, prompt=str(prompt),
            created_at=now, started_at=now, updated_at=now, key_headers=key_headers,
            faults=self.faults.for_run(script.agent_id, script.faults),
            ordinal=len(self.runs) + 1,
        )
        if thread.run_ids:
            self.duplicate_threads.append(thread.thread_id)
        thread.run_ids.append(run.id)
        self.runs[run.id] = run
        self.running.setdefault(account_id, set()).add(run.id)
        self.runs_by_thread[thread.thread_id] += 1
        self.runs_by_agent[script.agent_id] += 1
        fate = self.faults.fate(run.faults)
        run.task = asyncio.get_running_loop().create_task(execute(self, run, script, fate))
        return run

    def finish(self, run: SimRun, status: str, *, error: str | None, control: str) -> None:
        """Write a run's final status and release its parallel-run slot."""
        run.finish(status, self.clock.now(), error=error, control=control)
        self.running.get(run.account_id, set()).discard(run.id)

    def stop_run(self, run: SimRun) -> None:
        """Suna's stop: status ``stopped`` (even over a finished run), then STOP."""
        if run.task is not None and not run.task.done():
            run.task.cancel()
        self.finish(run, "stopped", error=None, control="STOP")

    def stats(self) -> SimStats:
        """A snapshot of every counter."""
        return SimStats(
            threads=len(self.threads),
            runs_started=len(self.runs),
            runs_by_thread=dict(self.runs_by_thread),
            runs_by_agent=dict(self.runs_by_agent),
            duplicate_starts=len(self.duplicate_threads),
            duplicate_threads=list(self.duplicate_threads),
            runs_by_status=dict(Counter(run.status for run in self.runs.values())),
            running=sum(len(ids) for ids in self.running.values()),
            usage=self.usage.totals(),
            usage_by_model=self.usage.per_model(),
            key_headers={rid: dict(run.key_headers) for rid, run in self.runs.items()},
            requests=dict(self.requests),
            faults_injected=dict(self.faults.injected),
            streams_open=self.streams_open,
            streams_total=self.streams_total,
        )
