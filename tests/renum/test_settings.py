"""Settings: defaults in one place, and no start without real secrets outside dev mode."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from renum.errors import ConfigurationError
from renum.keys import KeyRing
from renum.settings import Settings, dev_secret


def test_defaults() -> None:
    settings = Settings(_env_file=None)
    assert settings.suna_base_url == "http://127.0.0.1:8100"
    assert settings.port == 8000


@pytest.mark.parametrize("secret", [None, "changeme", "secret", "short-but-not-placeholder"])
def test_missing_or_placeholder_secret_refused(secret: str | None) -> None:
    settings = Settings(RENUM_JWT_SECRET=secret)
    with pytest.raises(ConfigurationError, match="RENUM_JWT_SECRET"):
        settings.check_secrets()


def test_dev_mode_accepts_anything() -> None:
    Settings(RENUM_DEV=True).check_secrets()


def test_real_secret_accepted() -> None:
    Settings(RENUM_JWT_SECRET=secrets.token_urlsafe(48)).check_secrets()


@pytest.mark.parametrize(("variable", "value", "why"), [
    ("RENUM_JWT_SECRET", "super-secret-jwt-token-with-at-least-32-characters-long", "published"),
    ("RENUM_JWT_SECRET", "x" * 48, "not random"),
    ("RENUM_JWT_SECRET", "abababababababababababababababababab", "not random"),
    ("SUNA_JWT_SECRET", "suna-sim-development-jwt-secret-not-for-production", "published"),
    ("SUNA_JWT_SECRET", "changeme", "placeholder"),
])  # fmt: skip
def test_known_and_weak_secrets_are_refused_by_name(variable: str, value: str, why: str) -> None:
    settings = Settings(**{"RENUM_JWT_SECRET": secrets.token_urlsafe(48), variable: value})
    with pytest.raises(ConfigurationError, match=rf"{variable} .*{why}"):
        settings.check_secrets()


@pytest.mark.parametrize("key", [b"0123456789abcdef0123456789abcdef", bytes(range(8)) * 4])
def test_master_keys_that_are_not_random_bytes_are_refused(key: bytes) -> None:
    spec = "k1:" + base64.b64encode(key).decode()
    with pytest.raises(ConfigurationError, match=r"RENUM_MASTER_KEYS entry 1 .*not random"):
        KeyRing.parse(spec)
    KeyRing.parse("k1:" + base64.b64encode(os.urandom(32)).decode())  # a real one is fine


def test_dev_secret_is_created_once_and_private(tmp_path: Path) -> None:
    value, created = dev_secret(tmp_path, "jwt_secret")
    assert created and len(value) >= 32
    assert (tmp_path / "jwt_secret").stat().st_mode & 0o077 == 0
    assert dev_secret(tmp_path, "jwt_secret") == (value, False)


def test_serve_refuses_to_start_without_a_secret(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RENUM_")}
    env.update(RENUM_JWT_SECRET="changeme", RENUM_DATA_DIR=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-m", "renum", "serve", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "RENUM_JWT_SECRET looks like a placeholder" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_default_service_account_is_the_simulators() -> None:
    from renum.settings import SIMULATOR_ACCOUNT_ID
    from suna_sim import DEV_ACCOUNT_ID

    assert SIMULATOR_ACCOUNT_ID == DEV_ACCOUNT_ID
    assert Settings.model_fields["suna_account_id"].default == DEV_ACCOUNT_ID
