"""`renum migrate`: ordered, transactional, locked, recorded, and refusing edits."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import asyncpg
import pytest

from renum.db import MIGRATIONS_DIR, load_migrations, migrate
from renum.errors import MigrationError


async def _applied(url: str) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        return [
            r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations ORDER BY name")
        ]
    finally:
        await conn.close()


async def test_migrate_twice_is_a_no_op(scratch_database_url: str) -> None:
    first = await migrate(scratch_database_url)
    assert first == [m.name for m in load_migrations()]
    assert await migrate(scratch_database_url) == []
    assert await _applied(scratch_database_url) == first


async def test_concurrent_migrations_apply_once(scratch_database_url: str) -> None:
    results = await asyncio.gather(*(migrate(scratch_database_url) for _ in range(3)))
    applied_now = [name for result in results for name in result]
    assert sorted(applied_now) == [m.name for m in load_migrations()]


async def test_edited_migration_is_refused_by_name(
    scratch_database_url: str, tmp_path: Path
) -> None:
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, directory)
    await migrate(scratch_database_url, directory)
    first = sorted(directory.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- an innocent edit\n")
    with pytest.raises(MigrationError) as info:
        await migrate(scratch_database_url, directory)
    assert first.name in info.value.detail
    assert "changed" in info.value.detail


async def test_failed_migration_leaves_nothing_half_applied(
    scratch_database_url: str, tmp_path: Path
) -> None:
    directory = tmp_path / "migrations"
    directory.mkdir()
    (directory / "001_ok.sql").write_text("CREATE TABLE a (x int);")
    (directory / "002_broken.sql").write_text("CREATE TABLE b (x int); SELECT no_such_function();")
    with pytest.raises(MigrationError, match=r"002_broken\.sql"):
        await migrate(scratch_database_url, directory)
    assert await _applied(scratch_database_url) == ["001_ok.sql"]
    conn = await asyncpg.connect(scratch_database_url)
    try:
        assert await conn.fetchval("SELECT to_regclass('b')") is None
    finally:
        await conn.close()


def test_badly_named_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "first.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=r"first\.sql"):
        load_migrations(tmp_path)
    (tmp_path / "first.sql").unlink()
    (tmp_path / "001_a.sql").write_text("SELECT 1;")
    (tmp_path / "001_b.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="share a number"):
        load_migrations(tmp_path)
