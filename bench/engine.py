"""Engine figures: overhead per step, critical-path ratio, throughput, memory per execution.

Run: .venv/bin/python bench/engine.py [--quick] [--waiting N]

Uses DATABASE_URL / REDIS_URL when set, else embedded servers in a temporary
directory. The Suna simulator runs in its own process (as Suna would); one
Renum worker runs in this process, on uvloop and with the collector tuned
(``tune_gc``) as in `renum worker`, so its memory can be read; the scaling
figure starts real `renum worker` processes. Printed, never asserted: machines
are noisy. The last line is ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from renum.db import migrate
from renum.engine.queue import ExecutionQueue
from renum.engine.worker import Worker, WorkerConfig, tune_gc
from renum.keys import generate_master_key
from renum.resources import open_resources
from renum.settings import Settings
from renum.suna import build_suna_client
from suna_client import JwtAuth, StartRequest, SunaClient
from suna_sim import DEV_ACCOUNT_ID, agent_uuid

SECRET = "bench-secret-0123456789-0123456789-abc"
AGENTS = {"agents": [
    {"agent_id": "zero", "answer": "ok", "latency_ms": 0, "chunks": 1},
    {"agent_id": "a200", "answer": "done: {prompt}", "latency_ms": 200, "chunks": 2},
    {"agent_id": "a500", "answer": "done", "latency_ms": 500, "chunks": 2},
    {"agent_id": "slow", "answer": "late", "latency_ms": 600_000, "chunks": 1},
]}  # fmt: skip


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _rss_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _team(agent: str, steps: int) -> dict[str, Any]:
    agents = [
        {
            "id": f"s{i}",
            "agent_id": agent,
            "role": f"s{i}",
            "input": {"source": "initial_prompt"}
            if i == 0
            else {"source": "agent_result", "agent_id": f"s{i - 1}"},
        }
        for i in range(steps)
    ]
    return {"type": "sequential", "agents": agents}


class Bench:
    def __init__(self, settings: Settings, resources: Any) -> None:
        self.settings = settings
        self.resources = resources
        self.pool = resources.pool

    async def reset(self) -> None:
        await self.pool.execute("TRUNCATE teams, executions, usage_log RESTART IDENTITY CASCADE")
        await self.resources.redis.flushdb()
        await self._sim("POST", "/_sim/reset")

    async def _sim(self, method: str, path: str) -> dict[str, Any]:
        async with aiohttp.ClientSession() as http, http.request(
            method, self.settings.suna_base_url + path
        ) as resp:
            resp.raise_for_status()
            answer: dict[str, Any] = await resp.json()
            return answer

    async def sandboxes(self) -> dict[str, float]:
        """Suna threads and projects (each project a sandbox) per step attempt, since reset."""
        stats = await self._sim("GET", "/_sim/stats")
        attempts = await self.pool.fetchval("SELECT count(*) FROM step_runs")
        return {"threads_per_attempt": round(stats["threads"] / max(1, attempts), 3),
                "projects_per_attempt": round(stats["projects"] / max(1, attempts), 3)}

    async def launch(self, workflow: dict[str, Any], count: int, prompt: str = "go") -> list[str]:
        import dsl

        plan = dsl.compile(dsl.load(workflow)).to_dict()
        team_id = uuid.uuid4()
        await self.pool.execute(
            """INSERT INTO teams (id, user_id, name, workflow, plan)
               VALUES ($1, 'bench', $2, $3, $4)""",
            team_id, f"t-{team_id}", workflow, plan)  # fmt: skip
        ids = [uuid.uuid4() for _ in range(count)]
        # as a launch through the API records them: the agents' UUIDs, resolved at launch
        agents = {a["agent_id"]: agent_uuid(DEV_ACCOUNT_ID, a["agent_id"])
                  for a in workflow["agents"]}  # fmt: skip
        await self.pool.executemany(
            """INSERT INTO executions (id, user_id, team_id, status, initial_prompt, workflow, plan,
                                       agents)
               VALUES ($1, 'bench', $2, 'queued', $3, $4, $5, $6)""",
            [(i, team_id, prompt, workflow, plan, agents) for i in ids])  # fmt: skip
        queue = ExecutionQueue(self.resources.redis)
        for i in ids:
            await queue.enqueue(str(i))
        return [str(i) for i in ids]

    async def drive(self, concurrency: int) -> float:
        config = WorkerConfig(concurrency=concurrency, burst=True, read_block_ms=20,
                              sweep_interval_s=3600)  # fmt: skip
        async with build_suna_client(self.settings) as suna:
            worker = Worker(self.resources, suna, config)
            start = time.perf_counter()
            await worker.run()
            return time.perf_counter() - start

    async def durations(self) -> list[float]:
        rows = await self.pool.fetch(
            "SELECT extract(epoch FROM finished_at - started_at) AS s, status FROM executions"
        )
        bad = [r for r in rows if r["status"] != "completed"]
        if bad:
            raise RuntimeError(f"{len(bad)} executions did not complete")
        return [float(r["s"]) for r in rows]

    async def overhead(self, executions: int, steps: int = 3, latency_s: float = 0.2) -> dict:
        """Per-step overhead of ``executions`` concurrent 3-step executions of 200 ms agents.

        Beside it, the same closed loop through the bare client (no engine, no
        writes): what the machine itself costs at that load, since the simulator,
        PostgreSQL, Redis and the worker share its cores. At 1, twenty executions
        run one after another, for a p99 that is not a single sample.
        """
        await self.reset()
        total = executions if executions > 1 else 20
        await self.launch(_team("a200", steps), total)
        await self.drive(executions)
        per_step = [(d / steps - latency_s) * 1000 for d in await self.durations()]
        bare = await bare_client_overhead(self.settings.suna_base_url, total, executions, steps,
                                          latency_s)  # fmt: skip
        return {"executions": executions, "p50_ms": round(_pct(per_step, 0.5), 2),
                "p99_ms": round(_pct(per_step, 0.99), 2),
                "bare_client_p50_ms": round(_pct(bare, 0.5), 2),
                "bare_client_p99_ms": round(_pct(bare, 0.99), 2)}  # fmt: skip

    async def critical_path(self, samples: int = 5) -> dict:
        """Wall / critical path of a 3-step team of 200 ms agents, one execution at a time.

        The median of ``samples`` executions, beside the same three runs made in
        sequence through the bare client.
        """
        await self.reset()
        await self.launch(_team("a200", 3), samples)
        await self.drive(1)
        walls = await self.durations()
        bare = await bare_client_overhead(self.settings.suna_base_url, samples, 1, 3, 0.2)
        return {"engine": round(_pct(walls, 0.5) / 0.6, 4),
                "bare_client": round(_pct([(0.2 + b / 1000) * 3 for b in bare], 0.5) / 0.6, 4)}

    async def throughput(self, runs: int, concurrency: int, steps: int = 1,
                         pairs: int = 3) -> dict:  # fmt: skip
        """Steps per second of ``runs`` steps in executions of ``steps`` zero-latency steps.

        With one step per execution every step also starts and ends an execution
        (lease, start and final writes, queue ack), so that figure is executions
        per second too; with five, the steps themselves dominate. The bare client
        runs the same number of steps' Suna calls at the same concurrency, right
        after. A shared machine's speed drifts by more than the figure's own
        variation, so ``pairs`` such pairs run one after another and the medians
        are reported (the ratio is the median of the pairs' ratios).
        """
        engine_rates, bare_rates = [], []
        for _ in range(pairs):
            await self.reset()
            await self.launch(_team("zero", steps), runs // steps)
            wall = await self.drive(concurrency)
            engine_rates.append(runs // steps * steps / wall)
            sandboxes = await self.sandboxes()
            bare_rates.append(await bare_client_rate(self.settings.suna_base_url, runs,
                                                     concurrency))  # fmt: skip
        ratios = [e / b for e, b in zip(engine_rates, bare_rates, strict=True)]
        return {"steps_per_execution": steps,
                "steps_per_s": round(statistics.median(engine_rates), 1),
                "bare_client_runs_per_s": round(statistics.median(bare_rates), 1),
                "ratio": round(statistics.median(ratios), 3),
                "ratios": [round(r, 3) for r in ratios], **sandboxes}  # fmt: skip

    def worker_process(
        self, concurrency: int, *flags: str, log_level: str = "warning"
    ) -> tuple[list[str], dict[str, str]]:
        """The command line and environment of a `renum worker` process on this stack."""
        env = {**os.environ, "DATABASE_URL": self.resources.database_url,
               "REDIS_URL": self.resources.redis_url, "SUNA_BASE_URL": self.settings.suna_base_url,
               "RENUM_LOG_LEVEL": log_level}  # fmt: skip
        command = [sys.executable, "-m", "renum.cli", "worker", *flags, "--metrics-port", "0",
                   "--concurrency", str(concurrency)]  # fmt: skip
        return command, env

    async def processes(self, runs: int, workers: int, concurrency: int) -> float:
        """Steps per second of ``workers`` ``renum worker --burst`` processes sharing the queue.

        Timed from the first execution's start to the last one's end (so process
        start-up, the same for any count, is left out).
        """
        await self.reset()
        await self.launch(_team("zero", 1), runs)
        command, env = self.worker_process(concurrency, "--burst")
        procs = [await asyncio.create_subprocess_exec(*command, env=env) for _ in range(workers)]
        await asyncio.wait_for(asyncio.gather(*(p.wait() for p in procs)), 600)
        row = await self.pool.fetchrow(
            """SELECT count(*) FILTER (WHERE status = 'completed') AS done,
                      extract(epoch FROM max(finished_at) - min(started_at)) AS s FROM executions"""
        )
        if row["done"] != runs:
            raise RuntimeError(f"{runs - row['done']} executions did not complete")
        return runs / float(row["s"])

    async def memory(self, waiting: int) -> dict:
        await self.reset()
        await self.launch(_team("slow", 1), waiting)
        before = _rss_kb()
        config = WorkerConfig(concurrency=waiting, read_block_ms=50, sweep_interval_s=3600)
        async with build_suna_client(self.settings) as suna:
            worker = Worker(self.resources, suna, config)
            task = asyncio.create_task(worker.run())
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                started = await self.pool.fetchval(
                    "SELECT count(*) FROM step_runs WHERE suna_run_id IS NOT NULL"
                )
                if started >= waiting:
                    break
                await asyncio.sleep(0.5)
            await asyncio.sleep(1.0)
            after = _rss_kb()
            worker.stop()
            await task
        return {
            "waiting": waiting,
            "started": int(started),
            "rss_before_mb": round(before / 1024, 1),
            "rss_after_mb": round(after / 1024, 1),
            "kb_per_execution": round((after - before) / max(1, started), 1),
        }


async def _bare_step(client: SunaClient, agent: str) -> None:
    """The Suna calls of one step, with nothing around them (the flavour's start)."""
    request = StartRequest(prompt="go", agent_id=agent_uuid(DEV_ACCOUNT_ID, agent))
    started = await client.start(request)
    await client.wait_for_run(started.agent_run_id)
    await client.run_output(started.thread_id)


async def bare_client_overhead(
    base_url: str, total: int, concurrency: int, steps: int, latency_s: float
) -> list[float]:
    """Per-step overhead (ms) of ``total`` sequences of ``steps`` runs, ``concurrency`` at once."""
    sem = asyncio.Semaphore(concurrency)

    async def sequence(client: SunaClient) -> float:
        async with sem:
            start = time.perf_counter()
            for _ in range(steps):
                await _bare_step(client, "a200")
            return ((time.perf_counter() - start) / steps - latency_s) * 1000

    async with SunaClient(base_url, auth=JwtAuth(SECRET, DEV_ACCOUNT_ID)) as client:
        return list(await asyncio.gather(*(sequence(client) for _ in range(total))))


async def bare_client_rate(base_url: str, runs: int, concurrency: int) -> float:
    """The same Suna calls a step makes, with the bare client and no engine."""
    sem = asyncio.Semaphore(concurrency)

    async def one(client: SunaClient) -> None:
        async with sem:
            await _bare_step(client, "zero")

    async with SunaClient(base_url, auth=JwtAuth(SECRET, DEV_ACCOUNT_ID)) as client:
        start = time.perf_counter()
        await asyncio.gather(*(one(client) for _ in range(runs)))
        return runs / (time.perf_counter() - start)


def start_simulator(agents_file: Path) -> tuple[subprocess.Popen[bytes], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "suna_sim", "--port", "0", "--print-url", "--agents",
         str(agents_file), "--jwt-secret", SECRET, "--max-parallel-runs", "0",
         "--ping-interval", "5"],
        stdout=subprocess.PIPE)  # fmt: skip
    assert proc.stdout is not None
    return proc, proc.stdout.readline().decode().strip()


@asynccontextmanager
async def bench_stack() -> AsyncIterator[tuple[Bench, subprocess.Popen[bytes]]]:
    """What every engine figure runs on: the simulator in its own process (as Suna would
    be), the servers (DATABASE_URL / REDIS_URL, else embedded) migrated, and a Bench."""
    tmp = Path(tempfile.mkdtemp(prefix="renum-bench-"))
    agents_file = tmp / "agents.json"
    agents_file.write_text(json.dumps(AGENTS))
    sim, sim_url = start_simulator(agents_file)
    os.environ.update(SUNA_BASE_URL=sim_url, SUNA_JWT_SECRET=SECRET, RENUM_DATA_DIR=str(tmp))
    os.environ.setdefault("RENUM_MASTER_KEYS", generate_master_key("bench"))  # a throwaway
    settings = Settings(RENUM_DB_POOL_MAX=20)
    try:
        async with open_resources(settings) as resources:
            await migrate(resources.database_url)
            tune_gc()  # as `renum worker` does
            yield Bench(settings, resources), sim
    finally:
        sim.terminate()
        sim.wait(10)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    async with bench_stack() as (bench, _sim):
        await bench.overhead(5)  # warm-up: connections, caches; not reported
        levels = [1, 100] if args.quick else [1, 100, 1000]
        results["overhead_per_step"] = [await bench.overhead(n) for n in levels]
        results["wall_over_critical_path"] = await bench.critical_path()
        runs = 300 if args.quick else 1000
        results["throughput"] = await bench.throughput(runs, 100)
        results["throughput_5_step"] = await bench.throughput(runs, 100, steps=5)
        one = await bench.processes(runs * 2, 1, 100)
        two = await bench.processes(runs * 2, 2, 100)
        results["worker_processes"] = {"one_steps_per_s": round(one, 1),
                                       "two_steps_per_s": round(two, 1),
                                       "two_over_one": round(two / one, 3)}  # fmt: skip
        results["memory"] = await bench.memory(args.waiting)
    return results


def _print(results: dict[str, Any]) -> None:
    print("engine overhead per step (wall minus agent time, durable writes included):")
    for row in results["overhead_per_step"]:
        print(
            f"  {row['executions']:>5} concurrent executions: p50 {row['p50_ms']:7.2f} ms"
            f"   p99 {row['p99_ms']:7.2f} ms   (bare client, same load: p50"
            f" {row['bare_client_p50_ms']:.2f} ms, p99 {row['bare_client_p99_ms']:.2f} ms)"
        )
    cp = results["wall_over_critical_path"]
    print(
        f"wall / critical path, 3 steps of 200 ms: {cp['engine']:.4f}"
        f" (bare client, same runs: {cp['bare_client']:.4f})"
    )
    for t in (results["throughput"], results["throughput_5_step"]):
        print(
            f"throughput, {t['steps_per_execution']}-step executions: {t['steps_per_s']} steps/s"
            f" vs bare client {t['bare_client_runs_per_s']} runs/s = {t['ratio'] * 100:.1f} %"
            f" (median of {len(t['ratios'])} pairs: "
            + ", ".join(f"{r * 100:.1f}" for r in t["ratios"]) + " %)"
        )
        print(f"  Suna threads per step attempt {t['threads_per_attempt']}, projects (sandboxes)"
              f" {t['projects_per_attempt']}")
    w = results["worker_processes"]
    print(
        f"worker processes: one {w['one_steps_per_s']} steps/s, two {w['two_steps_per_s']}"
        f" steps/s = x{w['two_over_one']}"
    )
    m = results["memory"]
    print(
        f"memory: {m['started']} executions waiting on slow agents: RSS {m['rss_before_mb']} →"
        f" {m['rss_after_mb']} MB = {m['kb_per_execution']} KB per execution"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (no 1,000 level)")
    parser.add_argument(
        "--waiting",
        type=int,
        default=10_000,
        help="executions waiting on slow agents for the memory figure",
    )
    import uvloop  # the loop `renum worker` runs on

    figures = uvloop.run(main(parser.parse_args()))
    _print(figures)
    print("RESULT " + json.dumps({"engine": figures}, default=str))
