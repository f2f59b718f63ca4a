"""The master key ring: AES-256-GCM, versioned ciphertexts, AAD binding, clear errors."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from renum.errors import ConfigurationError, CredentialError
from renum.keys import KeyRing, generate_master_key
from renum.settings import Settings

SECRET = "sk-live-0123456789abcdef"


def _ring(*ids: str) -> KeyRing:
    return KeyRing.parse(",".join(generate_master_key(i) for i in ids))


def test_round_trip_records_the_key_id() -> None:
    ring = _ring("k1")
    ciphertext, key_id = ring.seal(SECRET, user_id="alice", service="openai")
    assert key_id == "k1" and ring.key_id_of(ciphertext) == "k1"
    assert SECRET.encode() not in ciphertext
    assert ring.open(ciphertext, user_id="alice", service="openai") == SECRET


def test_nonces_never_repeat() -> None:
    ring = _ring("k1")
    sealed = {ring.seal(SECRET, user_id="alice", service="openai")[0] for _ in range(200)}
    assert len(sealed) == 200
    nonces = {c[5:17] for c in sealed}  # after b"v1", the id length and "k1"
    assert len(nonces) == 200


@pytest.mark.parametrize(("user_id", "service"), [("bob", "openai"), ("alice", "anthropic")])
def test_ciphertext_is_bound_to_its_user_and_service(user_id: str, service: str) -> None:
    ring = _ring("k1")
    ciphertext, _ = ring.seal(SECRET, user_id="alice", service="openai")
    with pytest.raises(CredentialError) as caught:
        ring.open(ciphertext, user_id=user_id, service=service)
    assert "copied from another user or service" in caught.value.detail
    assert SECRET not in str(caught.value)


def test_tampering_is_detected() -> None:
    ring = _ring("k1")
    ciphertext, _ = ring.seal(SECRET, user_id="alice", service="openai")
    tampered = ciphertext[:-1] + bytes([ciphertext[-1] ^ 1])
    with pytest.raises(CredentialError):
        ring.open(tampered, user_id="alice", service="openai")


def test_unknown_key_id_names_the_id_never_the_plaintext() -> None:
    old = _ring("k-old")
    ciphertext, _ = old.seal(SECRET, user_id="alice", service="openai")
    with pytest.raises(CredentialError) as caught:
        _ring("k-new").open(ciphertext, user_id="alice", service="openai")
    message = str(caught.value)
    assert "'k-old'" in message and "k-new" in message
    assert SECRET not in message and SECRET not in repr(caught.value)


def test_first_key_is_current_older_ones_still_open() -> None:
    k1 = generate_master_key("k1")
    k2 = generate_master_key("k2")
    before = KeyRing.parse(k1)
    ciphertext, _ = before.seal(SECRET, user_id="alice", service="openai")
    after = KeyRing.parse(f"{k2}, {k1}")
    assert after.current_id == "k2" and after.ids == ("k2", "k1")
    assert not after.is_current(ciphertext)
    assert after.open(ciphertext, user_id="alice", service="openai") == SECRET
    assert after.seal(SECRET, user_id="alice", service="openai")[1] == "k2"


def test_url_safe_and_unpadded_base64_are_accepted() -> None:
    raw = bytes(range(32))
    text = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert KeyRing.parse(f"dev:{text}").keys == (("dev", raw),)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "no key"),
        ("k1", "id:base64key"),
        ("k1:changeme", "32 bytes"),
        ("k1:" + base64.b64encode(b"\0" * 32).decode(), "placeholder"),
        ("k1:" + base64.b64encode(b"short").decode(), "32 bytes"),
        ("bad id:" + base64.b64encode(bytes(range(32))).decode(), "id:base64key"),
        ("k1:" + base64.b64encode(bytes(range(32))).decode() + ",k1:"
         + base64.b64encode(bytes(range(1, 33))).decode(), "twice"),
    ],
)  # fmt: skip
def test_bad_rings_are_refused(spec: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        KeyRing.parse(spec)


def test_repr_shows_ids_only() -> None:
    spec = generate_master_key("k1")
    ring = KeyRing.parse(spec)
    assert spec.split(":", 1)[1] not in repr(ring)
    assert "k1" in repr(ring)


@pytest.mark.parametrize("master_keys", [None, "k1:changeme", "k1:" + "A" * 43 + "="])
def test_missing_or_placeholder_master_keys_stop_the_start(master_keys: str | None) -> None:
    settings = Settings(RENUM_JWT_SECRET="x" * 48, RENUM_MASTER_KEYS=master_keys)
    with pytest.raises(ConfigurationError, match="RENUM_MASTER_KEYS"):
        settings.check_secrets()
    with pytest.raises(ConfigurationError, match="RENUM_MASTER_KEYS"):
        settings.check_master_keys()


def test_dev_mode_generates_a_private_dev_master_key(tmp_path: Path) -> None:
    settings = Settings(RENUM_DEV=True, RENUM_MASTER_KEYS=None, RENUM_DATA_DIR=tmp_path)
    settings.check_secrets()
    ring = settings.key_ring
    assert ring.current_id == "dev"
    assert (tmp_path / "master_key").stat().st_mode & 0o077 == 0
    again = Settings(RENUM_DEV=True, RENUM_MASTER_KEYS=None, RENUM_DATA_DIR=tmp_path).key_ring
    assert again.keys == ring.keys


@pytest.mark.parametrize("command", [["serve", "--port", "0"], ["worker", "--burst"]])
def test_processes_refuse_to_start_without_master_keys(command: list[str], tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RENUM_")}
    env.update(RENUM_JWT_SECRET="x" * 48, RENUM_DATA_DIR=str(tmp_path))
    result = subprocess.run([sys.executable, "-m", "renum", *command], env=env,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 1
    assert "RENUM_MASTER_KEYS is not set" in result.stderr
    assert "Traceback" not in result.stderr
