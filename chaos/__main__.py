"""Run the chaos scenarios: ``python -m chaos [--short] [--executions N] [--kills N] [name ...]``.

Prints one line of figures per scenario and exits 1 if any scenario failed.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import sys

from chaos.scenarios import FULL, SCENARIOS, SHORT, Report, Size
from chaos.stack import ChaosStack


async def run(names: list[str], size: Size) -> list[Report]:
    """Run the named scenarios one after another on one chaos stack."""
    stack = await asyncio.to_thread(ChaosStack().start)
    reports = []
    try:
        for name in names:
            report = await SCENARIOS[name](stack, size)
            print(report.line(), flush=True)
            reports.append(report)
    finally:
        await asyncio.to_thread(stack.stop)
    return reports


def main() -> int:
    """Parse the arguments, run, print, return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__.splitlines()[0])
    parser.add_argument(
        "names",
        nargs="*",
        metavar="scenario",
        help=f"scenarios to run (default: all of {', '.join(SCENARIOS)})",
    )
    parser.add_argument("--short", action="store_true", help="the short form of `make test`")
    parser.add_argument("--executions", type=int, help="executions per scenario")
    parser.add_argument("--kills", type=int, help="worker SIGKILLs in worker_sigkill")
    parser.add_argument("--seed", type=int, help="random seed (kill moments, faults)")
    args = parser.parse_args()
    unknown = [name for name in args.names if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {', '.join(unknown)} (one of {', '.join(SCENARIOS)})")
    size = SHORT if args.short else FULL
    overrides = {k: v for k, v in (("executions", args.executions), ("kills", args.kills),
                                   ("seed", args.seed)) if v is not None}  # fmt: skip
    size = dataclasses.replace(size, **overrides)
    logging.basicConfig(level=logging.ERROR)
    reports = asyncio.run(run(args.names or list(SCENARIOS), size))
    failed = [r.name for r in reports if not r.ok]
    if failed:
        print(f"chaos: FAILED {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
