"""Where a step's CPU goes: the worker, the Suna simulator, PostgreSQL and Redis, per step.

Run: .venv/bin/python bench/cpu.py [--runs N] [--steps 1 5] [--pairs 3]

The same runs as ``bench/engine.py``'s throughput figure (executions of
zero-latency steps, 100 at once, the worker in this process on uvloop), then
the bare client's calls for as many steps. Around each, every process's CPU
time is read from ``/proc`` (Linux): this process, the simulator, and every
``postgres`` and ``redis-server`` process on the machine, so other load on
those servers counts too: run it on a quiet machine. Also printed per step:
PostgreSQL transactions (``pg_stat_database``, read after its flush) and WAL
bytes, and Redis commands (``INFO commandstats``). ``pairs`` engine/bare pairs
run one after another and the medians are printed. Uses DATABASE_URL /
REDIS_URL when set, else embedded servers. Printed, never asserted. The last
line is ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import engine as eb  # bench/engine.py: the runs and the simulator it starts

PROCESSES = ("worker", "simulator", "postgres", "redis")
#: PostgreSQL backends report their transaction counts at most once a second.
STATS_FLUSH_S = 1.5
_TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) * _TICK_S


def _named(prefix: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as comm:
                    if comm.read().strip().startswith(prefix):
                        pids.append(int(entry))
            except OSError:
                continue
    return pids


def _cpu(simulator: int) -> dict[str, float]:
    return {"worker": _cpu_s(os.getpid()), "simulator": _cpu_s(simulator),
            "postgres": sum(_cpu_s(p) for p in _named("postgres")),
            "redis": sum(_cpu_s(p) for p in _named("redis-server"))}  # fmt: skip


async def _measure(
    resources: Any, simulator: int, steps: int, run: Callable[[], Awaitable[Any]]
) -> dict[str, float]:
    """Per step of ``run``: ms of CPU by process, PostgreSQL transactions, Redis commands."""
    pg = """SELECT xact_commit, pg_current_wal_lsn() - '0/0'::pg_lsn AS wal
              FROM pg_stat_database WHERE datname = current_database()"""
    before_pg = await resources.pool.fetchrow(pg)
    before_r = await resources.redis.info("commandstats")
    before = _cpu(simulator)
    await run()
    after = _cpu(simulator)
    after_r = await resources.redis.info("commandstats")
    await asyncio.sleep(STATS_FLUSH_S)
    after_pg = await resources.pool.fetchrow(pg)
    figures = {k: (after[k] - before[k]) * 1000 / steps for k in PROCESSES}
    figures["total"] = sum(figures[k] for k in PROCESSES)
    figures["pg_transactions"] = (after_pg["xact_commit"] - before_pg["xact_commit"]) / steps
    figures["pg_wal_bytes"] = float(after_pg["wal"] - before_pg["wal"]) / steps
    figures["redis_commands"] = sum(
        v["calls"] - before_r.get(k, {}).get("calls", 0) for k, v in after_r.items()
    ) / steps
    return figures


async def main(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    async with eb.bench_stack() as (bench, sim):
        sim_url, resources = bench.settings.suna_base_url, bench.resources
        for steps in args.steps:
            await bench.throughput(200, 100, steps=steps, pairs=1)  # warm-up
            engine_runs, bare_runs = [], []
            for _ in range(args.pairs):
                await bench.reset()
                await bench.launch(eb._team("zero", steps), args.runs // steps)
                count = args.runs // steps * steps
                engine_runs.append(await _measure(
                    resources, sim.pid, count, lambda: bench.drive(100)))  # fmt: skip
                bare_runs.append(await _measure(
                    resources, sim.pid, count,
                    partial(eb.bare_client_rate, sim_url, count, 100)))  # fmt: skip
            results[f"steps_{steps}"] = {
                side: {k: round(statistics.median(r[k] for r in runs), 3) for k in runs[0]}
                for side, runs in (("engine", engine_runs), ("bare_client", bare_runs))
            }
    return results


def _print(results: dict[str, Any]) -> None:
    print("CPU per step (ms), medians; PostgreSQL transactions and WAL, Redis commands, per step:")
    for name, sides in results.items():
        for side, f in sides.items():
            print(
                f"  {name.replace('steps_', ''):>2}-step, {side:<11}: "
                + "  ".join(f"{k} {f[k]:.2f}" for k in (*PROCESSES, "total"))
                + f"   | pg xacts {f['pg_transactions']:.2f}, WAL {f['pg_wal_bytes']:.0f} B;"
                f" redis cmds {f['redis_commands']:.2f}"
            )
        ratio = sides["bare_client"]["total"] / sides["engine"]["total"]
        print(f"  {name.replace('steps_', ''):>2}-step: bare client / engine CPU = {ratio:.1%}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1000, help="steps per run")
    parser.add_argument("--steps", type=int, nargs="+", default=[1, 5],
                        help="steps per execution (one figure each)")  # fmt: skip
    parser.add_argument("--pairs", type=int, default=3, help="engine/bare pairs")
    import uvloop  # the loop `renum worker` runs on

    figures = uvloop.run(main(parser.parse_args()))
    _print(figures)
    print("RESULT " + json.dumps({"cpu": figures}))
    sys.stdout.flush()
