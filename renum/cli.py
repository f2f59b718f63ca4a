"""The `renum` command: dev | serve | worker | migrate | token.

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
    import uvicorn

    from renum.app import create_app

    settings = Settings()
    app = create_app(settings, run_migrations=args.migrate)
    uvicorn.run(
        app,
        host=args.host or settings.host,
        port=args.port if args.port is not None else settings.port,
        log_level=settings.log_level,
        access_log=False,
    )
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

    from renum.engine.worker import Worker, WorkerConfig
    from renum.resources import open_resources
    from renum.suna import build_suna_client

    settings = Settings()
    config = WorkerConfig(
        concurrency=args.concurrency or settings.worker_concurrency,
        lease_ttl_s=settings.lease_ttl_s,
        heartbeat_s=min(5.0, settings.lease_ttl_s / 3),
        burst=args.burst,
    )

    async def run() -> None:
        async with open_resources(settings) as resources, build_suna_client(settings) as suna:
            worker = Worker(resources, suna, config)
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, worker.stop)
            logging.getLogger("renum.worker").info(
                "worker %s driving up to %d executions", worker.worker_id, config.concurrency
            )
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
    worker.set_defaults(func=_cmd_worker)

    mig = sub.add_parser("migrate", help="apply pending database migrations")
    mig.set_defaults(func=_cmd_migrate)

    token = sub.add_parser("token", help="print a bearer token for development")
    token.add_argument("--user", required=True, help="user id (the token's sub)")
    token.add_argument("--admin", action="store_true", help="give the token the admin role")
    token.add_argument("--ttl", default="1h", help="lifetime, e.g. 30m, 1h, 7d (default 1h)")
    token.set_defaults(func=_cmd_token)
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
