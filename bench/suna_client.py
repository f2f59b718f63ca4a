"""Figures for the Suna client, against the simulator in a subprocess (printed, not asserted).

Per Suna API flavour (``api-2025``, ``agent-start``, ``v1``):

1. Client overhead per run (start → wait → answer + usage; in ``api-2025`` the
   start is create thread → message → start) with a zero-latency agent:
   p50/p99 and runs/s, next to a bare aiohttp script making the identical
   HTTP calls; the ratio is what matters.
2. Completion detection: time from the simulator writing a run's final status
   (its ``done_ts``) to ``wait_for_run`` returning, p50/p99 (target p50 ≤ 5 ms).

Then, on ``v1``: 3. 1,000 concurrent ``wait_for_run`` on slow agents in one
process: errors, RSS.

Usage: ``python bench/suna_client.py [--runs 300] [--detect-runs 200]
[--concurrent 1000] [--slow-ms 2000] [--flavours api-2025,agent-start,v1]``.
Ends with ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

# Run as a script, this file's directory comes first on sys.path and its name
# would shadow the ``suna_client`` package: drop it before importing.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import aiohttp  # noqa: E402

from suna_client import JwtAuth, StartRequest, SunaClient  # noqa: E402
from suna_sim import DEV_ACCOUNT_ID, FLAVOURS, agent_uuid, mint_token  # noqa: E402

SECRET = "bench-secret-0123456789abcdef-0123456789"
ACCOUNT = DEV_ACCOUNT_ID
MODEL = "openai/gpt-5-mini"
_FINAL = frozenset({"completed", "failed", "stopped", "STOP", "END_STREAM", "ERROR", "error"})
AGENTS = {
    "agents": [
        {"agent_id": "zero", "answer": "ok {prompt}", "chunks": 3, "latency_ms": 0},
        {"agent_id": "timed", "answer": "timed", "chunks": 3, "latency_ms": 30},
        {"agent_id": "slow", "answer": "slow", "chunks": 5, "latency_ms": 2000},
    ]
}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _rss_mb(pid: int | str = "self") -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _start_sim(
    slow_ms: int, tmp: Path, flavour: str
) -> tuple[asyncio.subprocess.Process, str]:
    agents = json.loads(json.dumps(AGENTS))
    agents["agents"][2]["latency_ms"] = slow_ms
    path = tmp / "agents.json"
    path.write_text(json.dumps(agents))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "suna_sim", "--port", "0", "--print-url", "--agents", str(path),
        "--max-parallel-runs", "0", "--jwt-secret", SECRET, "--flavour", flavour,
        "--sandbox-latency-ms", "0", stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    url = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
    return proc, url


def _agent(name: str) -> str:
    return agent_uuid(ACCOUNT, name)


async def client_start(suna: SunaClient, prompt: str, agent: str) -> tuple[str, str]:
    """(thread id, run id) of a run started through the client, the flavour's way."""
    started = await suna.start(StartRequest(prompt=prompt, agent_id=_agent(agent),
                                            model_name=MODEL))  # fmt: skip
    return started.thread_id, started.agent_run_id


async def client_run(suna: SunaClient, prompt: str) -> None:
    """One full run through the client."""
    thread_id, run_id = await client_start(suna, prompt, "zero")
    await suna.wait_for_run(run_id)
    out = await suna.run_output(thread_id)
    assert out.answer and out.usage.llm_calls == 1


async def _bare_start(
    session: aiohttp.ClientSession, base: str, flavour: str, prompt: str
) -> tuple[str, str, str]:
    """(prefix, thread id, run id): the flavour's start calls, by hand."""
    options = {"agent_id": _agent("zero"), "model_name": MODEL}
    if flavour == "api-2025":
        async with session.post(f"{base}/api/threads", data={}) as resp:
            thread_id = (await resp.json())["thread_id"]
        async with session.post(f"{base}/api/threads/{thread_id}/messages",
                                json={"type": "user", "content": prompt, "is_llm_message": True}):
            pass
        async with session.post(f"{base}/api/thread/{thread_id}/agent/start",
                                json=options) as resp:  # fmt: skip
            return "/api", thread_id, (await resp.json())["agent_run_id"]
    prefix = "/v1" if flavour == "v1" else "/api"
    async with session.post(f"{base}{prefix}/agent/start",
                            data={"prompt": prompt, **options}) as resp:  # fmt: skip
        body = await resp.json()
    return prefix, body["thread_id"], body["agent_run_id"]


async def bare_run(session: aiohttp.ClientSession, base: str, prompt: str, flavour: str) -> None:
    """The same HTTP calls with bare aiohttp and hand-rolled parsing."""
    p, thread_id, run_id = await _bare_start(session, base, flavour, prompt)
    while True:  # v1 writes the run's row just after answering the start
        async with session.get(f"{base}{p}/agent-run/{run_id}/stream") as resp:
            if resp.status == 404:
                await asyncio.sleep(0.005)
                continue
            async for line in resp.content:
                if line.startswith(b"data: "):
                    event = json.loads(line[6:])
                    if event.get("type") == "status" and event.get("status") in _FINAL:
                        break
            break
    async with session.get(f"{base}{p}/agent-run/{run_id}") as resp:
        assert (await resp.json())["status"] == "completed"
    async with session.get(f"{base}{p}/threads/{thread_id}/messages",
                           params={"order": "asc", "optimized": "false"}) as resp:
        rows = (await resp.json())["messages"]
    answer = [r["content"] for r in rows if r["type"] == "assistant"][-1]
    tokens = sum(r["content"]["usage"]["prompt_tokens"] for r in rows
                 if r["type"] in ("assistant_response_end", "llm_response_end"))
    assert answer and tokens


async def _timed(fn: Callable[[int], Awaitable[None]], runs: int) -> dict[str, float]:
    for i in range(20):  # warm-up
        await fn(i)
    latencies = []
    started = time.perf_counter()
    for i in range(runs):
        t0 = time.perf_counter()
        await fn(i)
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    return {"p50_ms": _pct(latencies, 0.5) * 1000, "p99_ms": _pct(latencies, 0.99) * 1000,
            "runs_per_s": runs / elapsed}


async def overhead(base: str, runs: int, flavour: str) -> dict[str, Any]:
    """Sequential full runs with a zero-latency agent: client vs bare aiohttp."""
    async with SunaClient(base, auth=JwtAuth(SECRET, ACCOUNT)) as suna:
        client = await _timed(lambda i: client_run(suna, f"p{i}"), runs)
    headers = {"Authorization": f"Bearer {mint_token(SECRET, ACCOUNT)}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        bare = await _timed(lambda i: bare_run(session, base, f"p{i}", flavour), runs)
    return {"client": client, "bare": bare, "ratio_p50": client["p50_ms"] / bare["p50_ms"]}


async def detection(base: str, runs: int) -> dict[str, float]:
    """Final status written → wait_for_run returned, on a 30 ms agent."""
    gaps = []
    async with (
        SunaClient(base, auth=JwtAuth(SECRET, ACCOUNT)) as suna,
        aiohttp.ClientSession() as raw,
    ):
        for i in range(runs):
            _, run_id = await client_start(suna, f"d{i}", "timed")
            await suna.wait_for_run(run_id)
            returned = time.time()
            async with raw.get(f"{base}/_sim/runs/{run_id}") as resp:
                done_ts = (await resp.json())["done_ts"]
            gaps.append(returned - done_ts)
    return {"p50_ms": _pct(gaps, 0.5) * 1000, "p99_ms": _pct(gaps, 0.99) * 1000}


async def concurrency(base: str, runs: int, sim_pid: int) -> dict[str, Any]:
    """``runs`` concurrent full runs on the slow agent."""
    rss_before = _rss_mb()

    async def one(suna: SunaClient, i: int) -> str:
        _, run_id = await client_start(suna, f"c{i}", "slow")
        return (await suna.wait_for_run(run_id, timeout_s=120)).status

    started = time.perf_counter()
    async with SunaClient(base, auth=JwtAuth(SECRET, ACCOUNT)) as suna:
        results = await asyncio.gather(*(one(suna, i) for i in range(runs)),
                                       return_exceptions=True)
        rss_peak = _rss_mb()
    errors = [r for r in results if r != "completed"]
    return {
        "runs": runs, "errors": len(errors), "error_sample": [repr(e) for e in errors[:3]],
        "wall_s": time.perf_counter() - started, "client_rss_mb": rss_peak,
        "client_rss_growth_mb": rss_peak - rss_before, "sim_rss_mb": _rss_mb(sim_pid),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--detect-runs", type=int, default=200)
    parser.add_argument("--concurrent", type=int, default=1000)
    parser.add_argument("--slow-ms", type=int, default=2000)
    parser.add_argument("--flavours", default=",".join(FLAVOURS))
    args = parser.parse_args()
    flavours = [f for f in args.flavours.split(",") if f]
    per_flavour: dict[str, Any] = {}
    conc: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for flavour in flavours:
            proc, base = await _start_sim(args.slow_ms, Path(tmp), flavour)
            try:
                over = await overhead(base, args.runs, flavour)
                for name in ("client", "bare"):
                    fig = over[name]
                    print(f"{flavour:11} overhead {name:6} p50 {fig['p50_ms']:.2f} ms "
                          f"p99 {fig['p99_ms']:.2f} ms {fig['runs_per_s']:.0f} runs/s")
                print(f"{flavour:11} overhead ratio client/bare p50 {over['ratio_p50']:.2f}")
                detect = await detection(base, args.detect_runs)
                print(f"{flavour:11} detection p50 {detect['p50_ms']:.2f} ms "
                      f"p99 {detect['p99_ms']:.2f} ms")
                per_flavour[flavour] = {"overhead": over, "detection": detect}
                if flavour == flavours[-1]:
                    conc = await concurrency(base, args.concurrent, proc.pid)
                    print(f"{flavour:11} concurrent {conc['runs']} waits: {conc['errors']} "
                          f"errors in {conc['wall_s']:.1f} s, client RSS "
                          f"{conc['client_rss_mb']:.0f} MB (+{conc['client_rss_growth_mb']:.0f}),"
                          f" sim RSS {conc['sim_rss_mb']:.0f} MB")
            finally:
                proc.send_signal(signal.SIGTERM)
                await proc.wait()
    result = {"flavours": per_flavour, "concurrency": conc,
              "python": sys.version.split()[0], "cpus": os.cpu_count()}
    print("RESULT " + json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    asyncio.run(main())
