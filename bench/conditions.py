"""The condition case: another tenant's execution, alone and behind a flood of costly conditions.

Run: .venv/bin/python bench/conditions.py [--flood N] [--samples N]

A tenant launches ``--flood`` executions of a workflow with the most
`matches` conditions a workflow may have (16, one per parallel step), each
backtracking catastrophically on a 100,000-character prompt, so no agent ever
runs; right behind them, another tenant launches one 1-step execution of a
200 ms agent. One worker (in this process, on uvloop, as in bench/engine.py)
drives them all. Printed: that execution's latency (started to finished)
alone and under the flood, medians of ``--samples`` each, and their ratio.
Printed, never asserted. The last line is ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import json
import statistics
from typing import Any

import engine as eb  # bench/engine.py: the stack and launches

#: A pattern that backtracks exponentially on HOSTILE: every search runs into its timeout.
CATASTROPHIC = "(a|aa)+$"
#: The longest subject a `matches` searches.
HOSTILE = "a" * 99_999 + "!"
GUARDED = {"type": "parallel", "agents": [
    {"id": f"g{i}", "agent_id": "zero", "role": "r", "on_failure": "continue",
     "input": {"source": "initial_prompt"},
     "conditions": [{"field": "initial_prompt", "operator": "matches", "value": CATASTROPHIC}]}
    for i in range(16)]}  # fmt: skip


async def _latency_s(bench: eb.Bench, execution_id: str) -> float:
    value = await bench.pool.fetchval(
        "SELECT extract(epoch FROM finished_at - started_at) FROM executions WHERE id = $1",
        execution_id,
    )
    return float(value)


async def sample(bench: eb.Bench, flood: int) -> float:
    """The other tenant's latency behind ``flood`` costly launches (0: alone)."""
    await bench.reset()
    if flood:
        await bench.launch(GUARDED, flood, HOSTILE)
    (execution_id,) = await bench.launch(eb._team("a200", 1), 1)
    await bench.drive(200)
    return await _latency_s(bench, execution_id)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    async with eb.bench_stack() as (bench, _sim):
        await sample(bench, 0)  # warm-up: connections, caches; not reported
        alone = [await sample(bench, 0) for _ in range(args.samples)]
        flooded = [await sample(bench, args.flood) for _ in range(args.samples)]
    alone_s, flooded_s = statistics.median(alone), statistics.median(flooded)
    return {"flood": args.flood, "alone_s": round(alone_s, 3), "flooded_s": round(flooded_s, 3),
            "ratio": round(flooded_s / alone_s, 2), "alone": alone, "flooded": flooded}  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--flood", type=int, default=90, help="costly launches ahead of it")
    parser.add_argument("--samples", type=int, default=3, help="samples of each latency")
    import uvloop  # the loop `renum worker` runs on

    figures = uvloop.run(main(parser.parse_args()))
    print(f"condition case: another tenant's 1-step execution (200 ms agent) takes"
          f" {figures['alone_s']:.3f} s alone, {figures['flooded_s']:.3f} s behind"
          f" {figures['flood']} launches of 16 catastrophic `matches` = x{figures['ratio']}")
    print("RESULT " + json.dumps({"conditions": figures}))
