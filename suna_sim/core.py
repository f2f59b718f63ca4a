"""The simulated Suna's behaviour, without HTTP: accounts, agents, ownership
checks, thread quotas, run admission (agent, billing, run limit), starts,
stops, counters."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from typing import Any

from .agents import AgentBook, AgentScript, SunaAgent
from .config import SimConfig
from .faults import ROUTE_NAMES, FaultBox, Faults
from .flavours import behaviour_of
from .http import ApiError, internal_error
from .ids import agent_uuid, fresh_id, is_uuid
from .runner import execute
from .state import FINAL_STATUSES, Clock, SimRun, SimThread
from .stats import SimStats, UsageTally

__all__ = ["SimCore"]


class SimCore:
    """All state of one simulator; every method runs on its event loop."""

    route_names = frozenset(ROUTE_NAMES)

    def __init__(self, config: SimConfig, agents: AgentBook, faults: Faults | None = None) -> None:
        self.config = config
        self.behaviour = behaviour_of(config)
        self.agents = agents
        self.faults = FaultBox(faults, seed=config.seed)
        self.clock = Clock()
        self._clear()

    def _clear(self) -> None:
        self.threads: dict[str, SimThread] = {}
        self.projects: dict[str, str] = {}
        """Project id → owning account."""
        self.runs: dict[str, SimRun] = {}
        self.suna_agents: dict[str, SunaAgent] = {}
        self._seeded: set[str] = set()
        self.running: dict[str, set[str]] = {}
        self.admitted: Counter[str] = Counter()
        """Starts admitted but not yet running (their thread is being provisioned)."""
        self._limit_cache: dict[str, tuple[float, int]] = {}
        self.runs_by_thread: Counter[str] = Counter()
        self.runs_by_agent: Counter[str] = Counter()
        self.duplicate_threads: list[str] = []
        self.requests: Counter[str] = Counter()
        self.usage = UsageTally()
        self.streams_open = 0
        self.streams_total = 0

    def reset(self) -> None:
        """Forget every thread, run, created agent, counter and fault (config stays)."""
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

    # Accounts and agents

    def writer(self, account_id: str) -> str:
        """``account_id`` if it may write; Suna's 500 otherwise.

        A ``sub`` that is not a UUID fails PostgreSQL's cast; a UUID without a
        basejump account fails the foreign key. Both are plain 500s in Suna.
        """
        if not is_uuid(account_id) or account_id not in self.config.known_accounts():
            raise internal_error()
        return account_id

    def agents_of(self, account_id: str) -> list[SunaAgent]:
        """The account's agents: the scripted ones (seeded on first use) and created ones."""
        if account_id not in self._seeded and account_id in self.config.known_accounts():
            self._seeded.add(account_id)
            now = self.clock.now()
            for name, script in self.agents.agents.items():
                agent = SunaAgent(
                    agent_id=agent_uuid(account_id, name), account_id=account_id, name=name,
                    description=script.name, script=script,
                    is_default=name == self.agents.default_agent, created_at=now,
                )
                self.suna_agents[agent.agent_id] = agent
        return [a for a in self.suna_agents.values() if a.account_id == account_id]

    def agent_for(self, account_id: str, agent_id: str | None) -> SunaAgent:
        """The agent to run: ``agent_id`` of the caller's, or the caller's default.

        A name instead of a UUID gets Suna's plain-text 500; another account's
        agent, or none, is a 404.
        """
        mine = self.agents_of(account_id)
        if agent_id is None:
            default = next((a for a in mine if a.is_default), None)
            if default is None:
                raise ApiError(404, "Agent not found or access denied")
            return default
        if not is_uuid(agent_id):
            raise internal_error()
        agent = self.suna_agents.get(agent_id)
        if agent is None or agent.account_id != account_id:
            raise ApiError(404, "Agent not found or access denied")
        return agent

    def create_agent(self, account_id: str, name: str, description: str) -> SunaAgent:
        """``POST P/agents``: a new agent that behaves as the default script."""
        self.agents_of(self.writer(account_id))
        script = self.agents.agents[self.agents.default_agent]
        agent = SunaAgent(
            agent_id=self.new_id(), account_id=account_id, name=name,
            description=description, script=script, is_default=False,
            created_at=self.clock.now(),
        )
        self.suna_agents[agent.agent_id] = agent
        return agent

    # Threads

    def _quota(self, code: str, what: str, count: int, limit: int | None) -> None:
        if limit is not None and count >= limit:
            raise ApiError(402, {
                "message": f"Maximum of {limit} {what} allowed for your current plan. "
                f"You have {count}.",
                "current_count": count, "limit": limit, "error_code": code,
            })  # fmt: skip

    async def create_thread(
        self, account_id: str, name: str, *, thread_id: str | None = None,
        project_id: str | None = None,
    ) -> SimThread:  # fmt: skip
        """A new thread owned by ``account_id``, in a new project (with its sandbox) or
        in ``project_id`` if the account already has it."""
        self.writer(account_id)
        mine = sum(1 for t in self.threads.values() if t.account_id == account_id)
        self._quota("THREAD_LIMIT_EXCEEDED", "threads", mine, self.config.thread_limit)
        if thread_id is not None and thread_id in self.threads:
            raise internal_error()  # duplicate key on threads
        owner = self.projects.get(project_id) if project_id else None
        if owner is not None and owner != account_id:
            raise ApiError(403, "Not authorized to access this project")
        if owner is not None and thread_id is not None and not self.config.shared_projects:
            raise internal_error()  # duplicate key on projects
        # Suna checks the project quota for every new thread, in a project of its own or not
        projects = sum(1 for a in self.projects.values() if a == account_id)
        self._quota("PROJECT_LIMIT_EXCEEDED", "projects", projects, self.config.project_limit)
        if owner is None:
            if self.config.sandbox_latency_ms:
                await asyncio.sleep(self.config.sandbox_latency_ms / 1000.0)
            project_id = project_id or self.new_id()
            self.projects[project_id] = account_id
        assert project_id is not None
        thread = SimThread(
            thread_id=thread_id or self.new_id(), project_id=project_id,
            account_id=account_id, name=name or "New Project", created_at=self.clock.now(),
        )
        self.threads[thread.thread_id] = thread
        return thread

    def thread_for(self, account_id: str, thread_id: str) -> SimThread:
        """The thread if ``account_id`` owns it; Suna's 500 (not a UUID), 404 or 403."""
        if not is_uuid(thread_id):
            raise internal_error()
        thread = self.threads.get(thread_id)
        if thread is None:
            raise ApiError(404, "Thread not found")
        if thread.account_id != account_id:
            raise ApiError(403, "Not authorized to access this thread")
        return thread

    def run_for(self, account_id: str, run_id: str) -> SimRun:
        """The run if its row exists and ``account_id`` owns it; Suna's 500, 404 or 403."""
        if not is_uuid(run_id):
            raise internal_error()
        run = self.runs.get(run_id)
        if run is None or not run.visible:
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

    def add_prompt(self, thread: SimThread, prompt: str) -> None:
        """Store ``prompt`` as the thread's next user message."""
        self.store(thread, "user", {"role": "user", "content": prompt}, {}, is_llm=True)

    @staticmethod
    def streamed(row: dict[str, Any]) -> dict[str, Any]:
        """A row as the stream carries it: content and metadata JSON-encoded."""
        encoded = {"content": json.dumps(row["content"]), "metadata": json.dumps(row["metadata"])}
        return {**row, **encoded}

    # Runs

    def _running_count(self, account_id: str) -> int:
        live = len(self.running.get(account_id, set())) + self.admitted[account_id]
        cache_s = self.config.run_limit_cache_s
        if not cache_s:
            return live
        now = time.monotonic()
        cached = self._limit_cache.get(account_id)
        if cached is None or cached[0] <= now:
            self._limit_cache[account_id] = (now + cache_s, live)
            return live
        return cached[1]

    def admit(
        self, account_id: str, agent_id: str | None, model_name: str | None = None
    ) -> SunaAgent:
        """The agent to run, after Suna's checks: agent, 403 model, 402 billing, run limit."""
        agent = self.agent_for(self.writer(account_id), agent_id)
        allowed = self.config.allowed_models
        model = model_name or self.config.default_model or agent.script.model
        if allowed is not None and model not in allowed:
            raise ApiError(403, {
                "message": f"Your current subscription plan does not include access to "
                f"{model}. Please upgrade your subscription.",
                "allowed_models": sorted(allowed)})  # fmt: skip
        if self.faults.out_of_credit(account_id):
            raise ApiError(402, {
                "message": "Monthly limit of 60 minutes reached. "
                "Please upgrade your plan or wait until next month.",
                "subscription": {"price_id": "free", "plan_name": "free"},
            })
        limit = self.config.max_parallel_runs
        count = self._running_count(account_id)
        if limit and count >= limit:
            running = self.running.get(account_id, set())
            thread_ids = sorted({self.runs[r].thread_id for r in running})
            detail: dict[str, Any] = {
                "message": f"Maximum of {limit} parallel agent runs allowed within 24 hours. "
                f"You currently have {count} running.",
                "running_thread_ids": thread_ids, "running_count": count, "limit": limit,
            }
            status = self.behaviour.run_limit_status
            if status == 402:
                detail["error_code"] = "AGENT_RUN_LIMIT_EXCEEDED"
            raise ApiError(status, detail)
        self.admitted[account_id] += 1
        return agent

    def release(self, account_id: str) -> None:
        """An admitted start that will not run (its thread could not be made)."""
        if self.admitted[account_id] > 0:
            self.admitted[account_id] -= 1

    def start_run(
        self, account_id: str, thread: SimThread, agent: SunaAgent, *,
        model_name: str | None, key_headers: dict[str, str],
    ) -> SimRun:
        """Create a run on ``thread`` and launch its scripted execution (after :meth:`admit`)."""
        self.release(account_id)
        prompt = next(
            (m["content"].get("content", "") for m in reversed(thread.messages)
             if m["type"] == "user" and isinstance(m["content"], dict)),
            "",
        )
        script: AgentScript = agent.script
        behaviour = self.behaviour
        now = self.clock.now()
        run = SimRun(
            id=self.new_id(), thread_id=thread.thread_id, account_id=account_id,
            agent_id=agent.agent_id, agent_name=script.agent_id,
            model=model_name or self.config.default_model or script.model,
            requested_model=model_name, prompt=str(prompt),
            created_at=now, started_at=now, updated_at=now, key_headers=key_headers,
            faults=self.faults.for_run(script.agent_id, script.faults),
            ordinal=len(self.runs) + 1,
            visible_at=time.monotonic() + behaviour.run_row_delay_ms / 1000.0,
            event_ids=behaviour.redis_stream,
            closing=FINAL_STATUSES | {"error"} if behaviour.redis_stream else FINAL_STATUSES,
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
        """Suna's stop.

        Lax (``api-2025``): ``stopped`` is written unconditionally, even over a
        finished run; a run not yet picked up never hears the STOP, goes on, and
        its final write overwrites ``stopped``. Otherwise a running run is
        stopped and a finished one left as it is.
        """
        running = run.status == "running"
        if not self.behaviour.lax_stop:
            if not running:
                return
            if run.task is not None:
                run.task.cancel()
            run.push({"type": "status", "status": "stopped", "message": "Agent run stopped"})
            self.finish(run, "stopped", error=None, control="STOP")
            return
        if running and not run.picked_up:
            run.stop_lost = True
        elif run.task is not None and not run.task.done():
            run.task.cancel()
        self.finish(run, "stopped", error=None, control="STOP")

    def stats(self) -> SimStats:
        """A snapshot of every counter."""
        return SimStats(
            threads=len(self.threads),
            projects=len(self.projects),
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
