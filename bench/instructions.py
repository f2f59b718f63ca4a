"""Instructions per step: a `renum worker` process against the bare client, under callgrind.

Run: .venv/bin/python bench/instructions.py [--runs N] [--steps 1 5]

Wall-clock and CPU-time figures on a shared two-core machine move by ±10 %
between runs of the same code; instruction counts do not (±0.5 % here). So
this script runs one real ``renum worker`` process under valgrind's callgrind,
counting instructions only while it drives ``--runs`` zero-latency steps
(after a warm-up batch, so connections and prepared statements exist), and
the bare client (the same Suna calls, no engine) under callgrind the same
way, in a process of its own. Printed: instructions per step of the worker,
per run of the bare client, and their ratio, which is the steps per second one
core gives the engine against the bare client where the worker is what limits
(Suna, PostgreSQL and Redis on other machines). PostgreSQL's, Redis's and the
simulator's own work is not counted here (cpu.py measures it). Needs valgrind
(``callgrind_control``); the simulator and the servers run as in
``bench/engine.py``. Printed, never asserted. The last line is ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import engine as eb  # bench/engine.py: the stack, the teams and the bare client's calls

from renum.events import EventLog

#: Executions (warm-up) driven before counting starts.
WARM_UP = 40
#: Executions followed at once while waiting for their end.
FOLLOWERS = 20


def _callgrind(out: Path, command: list[str]) -> list[str]:
    return ["valgrind", "--tool=callgrind", "--instr-atstart=no",
            f"--callgrind-out-file={out}", *command]  # fmt: skip


def _instructions(out: Path) -> int:
    """The instructions a callgrind output file counted (its ``totals:`` line)."""
    for line in out.read_text().splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    raise RuntimeError(f"{out}: no totals")


def _counting(pid: int, on: bool) -> None:
    subprocess.run(["callgrind_control", "-i", "on" if on else "off", str(pid)],
                   check=True, capture_output=True)  # fmt: skip


async def _finished(bench: eb.Bench, ids: list[str]) -> None:
    """Until every execution in ``ids`` has its terminal event (followed as SSE clients do,
    :data:`FOLLOWERS` at a time: a follower blocked on its stream holds a Redis connection,
    and one that starts late replays what it missed from PostgreSQL)."""
    log = EventLog(bench.pool, bench.resources.redis)
    followers = asyncio.Semaphore(FOLLOWERS)

    async def last(execution_id: str) -> str:
        async with followers:
            async for event in log.follow(execution_id):
                if event is not None and event.terminal:
                    return event.type
        raise RuntimeError(f"{execution_id}: no terminal event")

    ends = await asyncio.gather(*(last(i) for i in ids))
    bad = [end for end in ends if end != "execution_completed"]
    if bad:
        raise RuntimeError(f"{len(bad)} executions did not complete: {bad[:3]}")


async def worker_per_step(bench: eb.Bench, tmp: Path, executions: int, steps: int) -> float:
    """Instructions of a ``renum worker`` process per step it drives."""
    await bench.reset()
    out = tmp / f"worker-{steps}.out"
    command, env = bench.worker_process(100, log_level="info")  # info: its start-up line
    proc = await asyncio.create_subprocess_exec(*_callgrind(out, command), env=env,
                                                stderr=subprocess.PIPE)  # fmt: skip
    assert proc.stderr is not None
    try:
        while b"driving up to" not in (line := await proc.stderr.readline()):  # started
            if not line:
                raise RuntimeError("the worker exited before it started driving")
        drain = asyncio.create_task(proc.stderr.read())  # keep its pipe from filling
        workflow = eb._team("zero", steps)
        await _finished(bench, await bench.launch(workflow, WARM_UP))
        _counting(proc.pid, True)
        await _finished(bench, await bench.launch(workflow, executions))
        _counting(proc.pid, False)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        await proc.wait()
    await drain
    return _instructions(out) / (executions * steps)


def bare_per_run(base_url: str, tmp: Path, runs: int) -> float:
    """Instructions of the bare client per run, in a process of its own."""
    out = tmp / "bare.out"
    command = [sys.executable, __file__, "--bare-client", base_url, "--runs", str(runs)]
    subprocess.run(_callgrind(out, command), check=True, capture_output=True)
    return _instructions(out) / runs


async def _bare_client(base_url: str, runs: int) -> None:
    """The child: warm up, then count ``runs`` runs of the bare client, 100 at once."""
    await eb.bare_client_rate(base_url, 200, 100)
    _counting(os.getpid(), True)
    await eb.bare_client_rate(base_url, runs, 100)
    _counting(os.getpid(), False)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="renum-instructions-"))
    results: dict[str, Any] = {}
    async with eb.bench_stack() as (bench, _sim):
        bare = bare_per_run(bench.settings.suna_base_url, tmp, args.runs)
        results["bare_client_per_run"] = round(bare)
        for steps in args.steps:
            worker = await worker_per_step(bench, tmp, args.runs // steps, steps)
            results[f"worker_per_step_{steps}_step"] = round(worker)
            results[f"ratio_{steps}_step"] = round(bare / worker, 3)
    shutil.rmtree(tmp, ignore_errors=True)
    return results


def _print(results: dict[str, Any]) -> None:
    bare = results["bare_client_per_run"]
    print(f"instructions (callgrind): bare client {bare / 1e6:.2f} M per run")
    for key, value in results.items():
        if key.startswith("worker_per_step_"):
            steps = key.removeprefix("worker_per_step_").removesuffix("_step")
            ratio = results[f"ratio_{steps}_step"]
            print(f"  worker, {steps}-step executions: {value / 1e6:.2f} M per step;"
                  f" bare client / worker = {ratio * 100:.1f} %")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=500, help="steps counted per figure")
    parser.add_argument("--steps", type=int, nargs="+", default=[1, 5],
                        help="steps per execution (one figure each)")  # fmt: skip
    parser.add_argument("--bare-client", metavar="URL", help=argparse.SUPPRESS)
    parsed = parser.parse_args()
    import uvloop  # the loop `renum worker` runs on

    if parsed.bare_client:
        uvloop.run(_bare_client(parsed.bare_client, parsed.runs))
        sys.exit(0)
    if shutil.which("callgrind_control") is None:
        print("skipped: valgrind (callgrind_control) is not installed")
        print("RESULT " + json.dumps({"instructions": {"skipped": "valgrind not installed"}}))
        sys.exit(0)
    figures = uvloop.run(main(parsed))
    _print(figures)
    print("RESULT " + json.dumps({"instructions": figures}))
    sys.stdout.flush()
