"""Benchmark of the workflow DSL: load + compile of a 200-step workflow, scheduler throughput.

Run: .venv/bin/python bench/dsl.py  [--runs N]
Prints figures, then one line `RESULT {json}` for `make bench` to collect.
Targets: load + compile p50 under 5 ms for 200 steps.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pathlib
import statistics
import sys
import time
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
# This file is named dsl.py: keep its own folder off the path so `dsl` is the package.
sys.path[:] = [p for p in sys.path if pathlib.Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))
dsl: Any = importlib.import_module("dsl")

STEPS = 200


def mixed_workflow(kind: str = "dag", steps: int = STEPS) -> dict[str, Any]:
    """A 200-step workflow using every input source, conditions, options and dependencies."""
    agents: list[dict[str, Any]] = []
    for i in range(steps):
        step: dict[str, Any] = {"id": f"s{i}", "agent_id": f"agent-{i % 7}", "role": f"role {i}"}
        if i == 0:
            step["input"] = {"source": "initial_prompt"}
        elif i % 3 == 0:
            step["input"] = {
                "source": "combined",
                "sources": [
                    {"type": "agent_result", "agent_id": f"s{i - 1}"},
                    {"type": "agent_result", "agent_id": f"s{i // 2}"},
                ],
            }
        elif i % 3 == 1:
            template = f"Task: {{{{initial_prompt}}}}\nPrevious: {{{{results.s{i - 1}.summary}}}}"
            step["input"] = {"source": "template", "template": template}
        else:
            step["input"] = {"source": "agent_result", "agent_id": f"s{i - 1}"}
        if kind == "dag" and i > 2:
            step["depends_on"] = [f"s{i - 2}", f"s{i - 3}"]
        if i % 5 == 0 and i:
            step["conditions"] = [
                {"field": f"results.s{i - 1}.score", "operator": "gte", "value": 3},
                {
                    "any": [
                        {
                            "field": f"agent_s{i - 2}_result.category",
                            "operator": "in",
                            "value": ["a", "b"],
                        },
                        {"field": "initial_prompt", "operator": "contains", "value": "urgent"},
                    ]
                },
            ]
        if i % 4 == 0:
            step["retry"] = {"max_attempts": 2, "backoff_s": 1}
            step["on_failure"] = "continue"
        agents.append(step)
    return {"type": kind, "max_concurrency": 8, "budget_usd": "12.50", "agents": agents}


def seed_style_workflow(steps: int = STEPS) -> dict[str, Any]:
    """A 200-step sequential chain in the seed's own format."""
    agents = [
        {"agent_id": "agent-0", "id": "s0", "role": "first", "input": {"source": "initial_prompt"}}
    ]
    agents += [
        {
            "agent_id": f"agent-{i}",
            "role": f"role {i}",
            "input": {"source": "agent_result", "agent_id": f"agent-{i - 1}" if i > 1 else "s0"},
        }
        for i in range(1, steps)
    ]
    return {"type": "sequential", "agents": agents}


def time_load_compile(document: dict[str, Any], runs: int) -> dict[str, float]:
    for _ in range(20):
        dsl.compile(dsl.load(document))
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        dsl.compile(dsl.load(document))
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 3),
        "p99_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 3),
    }


def decisions_per_s(plan: Any, repeats: int) -> tuple[float, int]:
    """Drive whole executions (every step answers JSON); count decisions per second."""
    answer = dsl.StepState("completed", dsl.parse_result('{"score": 5, "category": "a"}'))
    decisions, elapsed = 0, 0.0
    for _ in range(repeats):
        scheduler, state = dsl.Scheduler(plan), {}
        while True:
            started = time.perf_counter()
            decision = scheduler.decide(state, initial_prompt="urgent: summarise")
            elapsed += time.perf_counter() - started
            decisions += 1
            for step_id, _ in decision.skip:
                state[step_id] = dsl.StepState("skipped")
            for step_id in decision.start:
                state[step_id] = dsl.StepState("running")
            if decision.finished:
                break
            running = next(s for s, v in state.items() if v.status == "running")
            state[running] = answer
    return decisions / elapsed, decisions // repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500, help="load+compile samples")
    args = parser.parse_args()
    mixed = time_load_compile(mixed_workflow(), args.runs)
    seed = time_load_compile(seed_style_workflow(), args.runs)
    print(
        f"load+compile, {STEPS}-step mixed dag:        p50 {mixed['p50_ms']:.2f} ms  "
        f"p99 {mixed['p99_ms']:.2f} ms  (target p50 < 5 ms)"
    )
    print(
        f"load+compile, {STEPS}-step seed sequential:  p50 {seed['p50_ms']:.2f} ms  "
        f"p99 {seed['p99_ms']:.2f} ms"
    )
    rates: dict[str, Any] = {}
    for kind in ("dag", "conditional"):
        plan = dsl.compile(dsl.load(mixed_workflow(kind)))
        rate, per_run = decisions_per_s(plan, repeats=3)
        rates[kind] = {"decisions_per_s": round(rate), "decisions_per_execution": per_run}
        print(
            f"scheduler, {STEPS}-step {kind:<11}: {rate:>9,.0f} decisions/s "
            f"({per_run} decisions per execution)"
        )
    result = {
        "bench": "dsl",
        "steps": STEPS,
        "load_compile_mixed": mixed,
        "load_compile_seed": seed,
        "scheduler": rates,
        "target_p50_ms": 5.0,
        "ok": mixed["p50_ms"] < 5.0,
    }
    print("RESULT " + json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
