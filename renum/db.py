"""PostgreSQL: the connection pool and the migration runner.

Migrations are numbered ``NNN_name.sql`` files. :func:`migrate` applies the
pending ones in order, each in its own transaction, under an advisory lock so
that two processes migrating at once is safe, and records name and SHA-256 in
``schema_migrations``. An applied file whose content changed is refused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from renum.errors import MigrationError

__all__ = ["MIGRATIONS_DIR", "Migration", "create_pool", "load_migrations", "migrate"]

_log = logging.getLogger("renum.db")

#: Where the numbered .sql files live (overridable with RENUM_MIGRATIONS_DIR).
MIGRATIONS_DIR = Path(
    os.environ.get("RENUM_MIGRATIONS_DIR", Path(__file__).resolve().parent.parent / "migrations")
)
#: Advisory lock key taken while migrating ("renum" in ASCII).
MIGRATION_LOCK_KEY = 0x72656E756D
_NAME = re.compile(r"^(\d{3,})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class Migration:
    """One migration file."""

    name: str
    sql: str

    @property
    def checksum(self) -> str:
        """SHA-256 of the file's content."""
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Read the migration files in numeric order; refuse badly named or duplicate numbers."""
    if not directory.is_dir():
        raise MigrationError(f"migrations directory {directory} does not exist")
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise MigrationError(f"migration file {path.name} is not named NNN_name.sql")
        number = int(match.group(1))
        if number in found:
            raise MigrationError(f"migrations {found[number].name} and {path.name} share a number")
        found[number] = Migration(path.name, path.read_text())
    return [found[n] for n in sorted(found)]


async def migrate(dsn: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending migrations; return the names applied now (empty when up to date)."""
    migrations = load_migrations(directory)
    conn: asyncpg.Connection = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
        try:
            return await _apply(conn, migrations)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
    finally:
        await conn.close()


async def _apply(conn: asyncpg.Connection, migrations: list[Migration]) -> list[str]:
    await conn.execute(
        """CREATE TABLE IF NOT EXISTS schema_migrations (
               name        text PRIMARY KEY,
               checksum    text NOT NULL,
               applied_at  timestamptz NOT NULL DEFAULT now())"""
    )
    rows = await conn.fetch("SELECT name, checksum FROM schema_migrations")
    applied = {r["name"]: r["checksum"] for r in rows}
    for migration in migrations:
        recorded = applied.get(migration.name)
        if recorded is not None and recorded != migration.checksum:
            raise MigrationError(
                f"migration {migration.name} was changed after it was applied "
                f"(recorded checksum {recorded[:12]}…, file has {migration.checksum[:12]}…); "
                "add a new migration instead of editing an applied one"
            )
    done = []
    for migration in migrations:
        if migration.name in applied:
            continue
        async with conn.transaction():
            try:
                await conn.execute(migration.sql)
            except asyncpg.PostgresError as exc:
                raise MigrationError(f"migration {migration.name} failed: {exc}") from exc
            await conn.execute(
                "INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)",
                migration.name,
                migration.checksum,
            )
        _log.info("applied migration %s", migration.name)
        done.append(migration.name)
    return done


async def _init_connection(conn: asyncpg.Connection) -> None:
    for typename in ("json", "jsonb"):
        await conn.set_type_codec(
            typename, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


class PooledConnection(asyncpg.Connection):  # type: ignore[misc]
    """A pooled connection whose release costs no round trip.

    asyncpg resets a connection on release with ``pg_advisory_unlock_all(); CLOSE ALL;
    UNLISTEN *; RESET ALL`` — one more round trip per use, about a sixth of the
    engine's queries. Renum keeps no session state on pooled connections (no
    session advisory locks, cursors, LISTEN or SET; the sweeper's lock is
    transaction-scoped), so only the part that matters stays: asyncpg still rolls
    back a transaction left open.
    """

    def get_reset_query(self) -> str:
        return ""


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10, **kwargs: Any) -> Any:
    """Create the asyncpg pool used by a process; JSON columns map to Python objects."""
    kwargs.setdefault("connection_class", PooledConnection)
    pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection, **kwargs
    )
    assert pool is not None
    return pool
