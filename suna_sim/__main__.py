"""``python -m suna_sim``: run the Suna simulator alone.

    python -m suna_sim --port 8100 [--flavour api-2025|agent-start|v1]
        [--host 127.0.0.1] [--agents FILE] [--jwt-secret SECRET]
        [--account UUID] [--api-key pk_x:sk_x[=ACCOUNT]] [--faults FILE]
        [--max-parallel-runs 3] [--thread-limit N] [--sandbox-latency-ms MS]
        [--ping-interval S] [--seed N] [--print-port | --print-url]

The flavour defaults to ``v1`` (the newest Suna). The secret also comes from
``SUNA_JWT_SECRET``; the development account always exists. ``--port 0`` binds a free
port; ``--print-port`` / ``--print-url`` write it as the first stdout line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from pathlib import Path

from .config import SimConfig, parse_api_keys
from .faults import Faults
from .flavours import FLAVOURS
from .ids import DEV_ACCOUNT_ID, DEV_JWT_SECRET
from .server import SunaSimulator

__all__ = ["main", "parse_args"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m suna_sim", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--agents", type=Path, help="JSON file of scripted agents")
    parser.add_argument("--faults", type=Path, help="JSON file of faults to start with")
    parser.add_argument("--jwt-secret", default=os.environ.get("SUNA_JWT_SECRET"))
    parser.add_argument(
        "--api-key", action="append", default=[], metavar="pk_x:sk_x[=ACCOUNT]",
        help="accept this X-API-Key (account defaults to its pk_ part); repeatable",
    )
    parser.add_argument("--flavour", choices=FLAVOURS, default="v1")
    parser.add_argument(
        "--account", action="append", default=[], metavar="UUID",
        help="another account that exists (besides the development account); repeatable",
    )
    parser.add_argument("--max-parallel-runs", type=int, default=3)
    parser.add_argument("--thread-limit", type=int, default=None)
    parser.add_argument("--sandbox-latency-ms", type=float, default=20.0)
    parser.add_argument("--ping-interval", type=float, default=None,
                        help="seconds between pings (default: the flavour's; 0: none)")
    parser.add_argument("--seed", type=int, default=0)
    shown = parser.add_mutually_exclusive_group()
    shown.add_argument("--print-port", action="store_true", help="first stdout line: the port")
    shown.add_argument("--print-url", action="store_true", help="first stdout line: the URL")
    parser.add_argument("--log-level", default="WARNING")
    return parser.parse_args(argv)


def _config(args: argparse.Namespace) -> SimConfig:
    return SimConfig(
        flavour=args.flavour,
        jwt_secret=args.jwt_secret or DEV_JWT_SECRET,
        accounts=frozenset({DEV_ACCOUNT_ID, *args.account}),
        api_keys=parse_api_keys(args.api_key),
        max_parallel_runs=args.max_parallel_runs,
        thread_limit=args.thread_limit,
        sandbox_latency_ms=args.sandbox_latency_ms,
        ping_interval_s=args.ping_interval,
        seed=args.seed,
    )


async def _serve(args: argparse.Namespace) -> None:
    faults = None
    if args.faults is not None:
        faults = Faults.model_validate(json.loads(args.faults.read_text("utf-8")))
    sim = SunaSimulator(
        agents=args.agents, faults=faults, host=args.host, port=args.port, config=_config(args)
    )
    await sim.start()
    if args.print_port:
        print(sim.port, flush=True)
    elif args.print_url:
        print(sim.base_url, flush=True)
    else:
        print(f"suna_sim ({sim.flavour}) listening on {sim.base_url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await sim.close()


def main(argv: list[str] | None = None) -> int:
    """Run until SIGINT/SIGTERM."""
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
