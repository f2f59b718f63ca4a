"""The `renum` command: dev | serve | worker | migrate | token | keys | run | billing | doctor.

Each subcommand reads the same :class:`~renum.settings.Settings`; where a
database or Redis URL is unset, the embedded servers are started.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Coroutine, Sequence
from typing import Any

from renum.errors import RenumError
from renum.settings import Settings, dev_secret

__all__ = ["main"]


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def _cmd_serve(args: argparse.Namespace) -> int:
    from renum.app import create_app
    from renum.serving import serve

    settings = Settings()
    app = create_app(settings, run_migrations=args.migrate)
    serve(app, host=args.host or settings.host,
          port=args.port if args.port is not None else settings.port,
          log_level=settings.log_level, header_timeout_s=settings.header_timeout_s,
          max_connections=settings.max_connections)  # fmt: skip
    return 0


def _cmd_migrate(args: argparse.Namespace) -> int:
    from renum.db import migrate
    from renum.resources import resolve_urls

    async def run() -> list[str]:
        database_url, _redis_url, embedded = await resolve_urls(Settings())
        try:
            return await migrate(database_url)
        finally:
            if embedded is not None:
                embedded.stop()

    applied = asyncio.run(run())
    if applied:
        for name in applied:
            print(f"applied {name}")
    else:
        print("database is up to date")
    return 0


def _cmd_token(args: argparse.Namespace) -> int:
    from renum.auth import mint_token, parse_ttl

    settings = Settings()
    secret = settings.jwt_secret
    if secret is None:
        path = settings.data_dir / "jwt_secret"
        if not path.exists():
            print(
                "renum token: set RENUM_JWT_SECRET, or run `renum dev` once to create "
                f"the dev secret in {path}",
                file=sys.stderr,
            )
            return 2
        secret, _ = dev_secret(settings.data_dir, "jwt_secret")
    try:
        ttl_s = parse_ttl(args.ttl)
    except ValueError as exc:
        print(f"renum token: --ttl: {exc}", file=sys.stderr)
        return 2
    print(mint_token(secret, args.user, admin=args.admin, ttl_s=ttl_s))
    return 0


def _cmd_worker(args: argparse.Namespace) -> int:
    import signal

    from renum.engine.worker import Worker, WorkerConfig, tune_gc
    from renum.resources import open_resources
    from renum.suna import build_suna_client, log_suna

    settings = Settings()
    settings.check_master_keys()
    config = WorkerConfig(
        concurrency=args.concurrency or settings.worker_concurrency,
        lease_ttl_s=settings.lease_ttl_s,
        heartbeat_s=min(5.0, settings.lease_ttl_s / 3),
        burst=args.burst,
    )

    async def run() -> None:
        from renum.metrics import serve_worker_metrics

        port = args.metrics_port if args.metrics_port is not None else settings.worker_metrics_port
        serve_worker_metrics(port, settings.host)
        tune_gc()
        async with open_resources(settings) as resources, build_suna_client(settings) as suna:
            worker = Worker(resources, suna, config)
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, worker.stop)
            logging.getLogger("renum.worker").info(
                "worker %s driving up to %d executions", worker.worker_id, config.concurrency
            )
            await log_suna(suna, settings)
            await worker.run()

    _run_fast(run())
    return 0


def _run_fast(main: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop where it is installed (less CPU per step), else on asyncio."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


def _cmd_keys_rotate(args: argparse.Namespace) -> int:
    from renum.resources import open_resources
    from renum.vault import rotate

    if args.batch < 1:
        print("renum keys rotate: --batch must be at least 1", file=sys.stderr)
        return 2
    settings = Settings()
    ring = settings.key_ring

    async def run() -> int:
        async with open_resources(settings) as resources:
            report = await rotate(resources.pool, ring, batch=args.batch)
        print(f"re-wrapped {report.rewrapped} key(s) under master key {report.current_id!r} "
              f"in {report.batches} batch(es)")  # fmt: skip
        for row, why in sorted(report.failed.items()):
            print(f"could not re-wrap {row}: {why}", file=sys.stderr)
        if report.remaining:
            print(f"{report.remaining} key(s) are still under an older master key; keep it in "
                  "RENUM_MASTER_KEYS and run again", file=sys.stderr)  # fmt: skip
            return 1
        old = [key_id for key_id in ring.ids if key_id != report.current_id]
        if old:
            print(f"every key is under {report.current_id!r}; {', '.join(old)} may now be "
                  "removed from RENUM_MASTER_KEYS")  # fmt: skip
        return 0

    return asyncio.run(run())


def _cmd_keys_generate(args: argparse.Namespace) -> int:
    from renum.keys import generate_master_key

    print(generate_master_key(args.id))
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from renum.runner_cli import RunOptions, run

    return run(RunOptions(
        path=Path(args.file), prompt=args.prompt, name=args.name, url=args.url,
        token=args.token, as_json=args.json, budget_usd=args.budget_usd,
    ))  # fmt: skip


def _cmd_billing_report(args: argparse.Namespace) -> int:
    import json

    from renum.db import create_pool
    from renum.reports import parse_period, usage_report
    from renum.resources import resolve_urls

    try:
        start, end = parse_period(args.from_, args.to)
    except ValueError as exc:
        print(f"renum billing report: {exc}", file=sys.stderr)
        return 2

    async def run() -> str:
        database_url, _redis_url, embedded = await resolve_urls(Settings())
        try:
            pool = await create_pool(database_url, min_size=1, max_size=2)
            try:
                report = await usage_report(pool, start=start, end=end,
                                            group_by=args.group_by, user_id=args.user)  # fmt: skip
            finally:
                await pool.close()
        finally:
            if embedded is not None:
                embedded.stop()
        if args.format == "csv":
            return report.to_csv()
        return json.dumps(report.to_json(), indent=2) + "\n"

    sys.stdout.write(asyncio.run(run()))
    return 0


def _cmd_doctor(args: argparse.Namespace) -> int:
    from renum.doctor import diagnose, render

    checks = asyncio.run(diagnose(Settings()))
    sys.stdout.write(render(checks))
    return 1 if any(c.verdict == "fail" for c in checks) else 0


def _cmd_dev(args: argparse.Namespace) -> int:
    from renum.devstack import run_dev

    return run_dev(port=args.port)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="renum", description="Renum, the team brain for Suna agents."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    dev = sub.add_parser("dev", help="run the whole product on this machine (embedded servers)")
    dev.add_argument("--port", type=int, default=None, help="API port (default RENUM_PORT or 8000)")
    dev.set_defaults(func=_cmd_dev)

    serve = sub.add_parser("serve", help="run the API server")
    serve.add_argument("--host", default=None, help="bind address (default RENUM_HOST)")
    serve.add_argument("--port", type=int, default=None, help="port (default RENUM_PORT)")
    serve.add_argument("--migrate", action="store_true", help="apply pending migrations first")
    serve.set_defaults(func=_cmd_serve)

    worker = sub.add_parser("worker", help="run a worker that drives executions")
    worker.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="executions driven at once (default RENUM_WORKER_CONCURRENCY)",
    )
    worker.add_argument(
        "--burst", action="store_true", help="exit once the queue is empty and nothing is in flight"
    )
    worker.add_argument("--metrics-port", type=int, default=None,
                        help="port of this worker's /metrics (default RENUM_WORKER_METRICS_PORT, "
                             "0: none)")  # fmt: skip
    worker.set_defaults(func=_cmd_worker)

    mig = sub.add_parser("migrate", help="apply pending database migrations")
    mig.set_defaults(func=_cmd_migrate)

    token = sub.add_parser("token", help="print a bearer token for development")
    token.add_argument("--user", required=True, help="user id (the token's sub)")
    token.add_argument("--admin", action="store_true", help="give the token the admin role")
    token.add_argument("--ttl", default="1h", help="lifetime, e.g. 30m, 1h, 7d (default 1h)")
    token.set_defaults(func=_cmd_token)

    run = sub.add_parser("run", help="create or update a team from a file, launch it, follow it")
    run.add_argument("file", help="the team's workflow (JSON)")
    run.add_argument("--prompt", required=True, help="the execution's initial prompt")
    run.add_argument("--name", default=None, help="team name (default: the file's stem)")
    run.add_argument("--url", default=os.environ.get("RENUM_URL", "http://127.0.0.1:8000"),
                     help="API base URL (default RENUM_URL or http://127.0.0.1:8000)")  # fmt: skip
    run.add_argument("--token", default=None,
                     help="bearer token (default RENUM_TOKEN, else a dev-user token)")  # fmt: skip
    run.add_argument("--budget-usd", default=None, help="budget of this execution in USD")
    run.add_argument("--json", action="store_true", help="print events as JSON lines")
    run.set_defaults(func=_cmd_run)

    keys = sub.add_parser("keys", help="manage the master key ring of users' stored keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    rotate = keys_sub.add_parser(
        "rotate", help="re-wrap every stored key under the current (first) master key, online"
    )
    rotate.add_argument("--batch", type=int, default=500,
                        help="keys re-wrapped per transaction (default 500)")  # fmt: skip
    rotate.set_defaults(func=_cmd_keys_rotate)
    generate = keys_sub.add_parser("generate", help="print a new `id:base64key` master key")
    generate.add_argument("--id", default="k1", help="the key's id (default k1)")
    generate.set_defaults(func=_cmd_keys_generate)

    billing = sub.add_parser("billing", help="usage and cost reports, read from PostgreSQL")
    billing_sub = billing.add_subparsers(dest="billing_command", required=True, metavar="ACTION")
    report = billing_sub.add_parser("report", help="usage over a period, grouped (CSV or JSON)")
    report.add_argument("--from", dest="from_", default=None,
                        help="first day (YYYY-MM-DD) or ISO datetime (default: month start)")
    report.add_argument("--to", default=None,
                        help="last day, included (YYYY-MM-DD), or ISO datetime (default: now)")
    report.add_argument("--group-by", default="day",
                        choices=["day", "team", "agent", "model", "execution", "user"])
    report.add_argument("--format", default="csv", choices=["csv", "json"])
    report.add_argument("--user", default=None, help="only this user's usage (default: everyone)")
    report.set_defaults(func=_cmd_billing_report)  # fmt: skip

    doctor = sub.add_parser("doctor", help="check that Suna is usable: reachable, flavour, "
                            "credentials, account, agents, default model")  # fmt: skip
    doctor.set_defaults(func=_cmd_doctor)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `renum` command."""
    args = _parser().parse_args(argv)
    _configure_logging(os.environ.get("RENUM_LOG_LEVEL", "info"))
    try:
        code: int = args.func(args)
    except RenumError as exc:
        print(f"renum {args.command}: {exc.detail}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
