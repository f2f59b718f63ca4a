"""The `renum` command: token, migrate."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from renum.auth import verify_token
from renum.settings import Settings
from tests.conftest import TEST_JWT_SECRET


def _renum(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("RENUM_")}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "renum", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_token_mints_a_verifying_token(tmp_path: Path) -> None:
    result = _renum(
        "token", "--user", "carol", "--admin", "--ttl", "2h", RENUM_JWT_SECRET=TEST_JWT_SECRET
    )
    assert result.returncode == 0, result.stderr
    principal = verify_token(result.stdout.strip(), Settings(RENUM_JWT_SECRET=TEST_JWT_SECRET))
    assert principal.user_id == "carol" and principal.is_admin


def test_token_without_any_secret_explains(tmp_path: Path) -> None:
    result = _renum("token", "--user", "carol", RENUM_DATA_DIR=str(tmp_path))
    assert result.returncode == 2
    assert "RENUM_JWT_SECRET" in result.stderr


def test_token_bad_ttl(tmp_path: Path) -> None:
    result = _renum("token", "--user", "carol", "--ttl", "soon", RENUM_JWT_SECRET=TEST_JWT_SECRET)
    assert result.returncode == 2
    assert "--ttl" in result.stderr


def test_migrate_twice(scratch_database_url: str, redis_url: str) -> None:
    first = _renum("migrate", DATABASE_URL=scratch_database_url, REDIS_URL=redis_url)
    assert first.returncode == 0, first.stderr
    assert "applied 001_initial.sql" in first.stdout
    second = _renum("migrate", DATABASE_URL=scratch_database_url, REDIS_URL=redis_url)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "database is up to date"
