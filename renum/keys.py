"""The master key ring: users' provider keys sealed with AES-256-GCM, versioned by key id.

``RENUM_MASTER_KEYS`` is ``id:base64key,id:base64key,…``; the first entry is
the current key (new ciphertexts are sealed with it), the others only open
older ciphertexts until ``renum keys rotate`` has re-wrapped them.

A ciphertext is ``b"v1" | len(id) | id | nonce (12 bytes) | AES-GCM output``:
it records the id of the master key that sealed it, and its associated data
binds it to its user, service and key id, so a ciphertext copied to another
row does not open. Nonces are random 96-bit values, never reused by design
(2**-32 collision odds only after 2**32 seals under one key).

Errors name key ids and services, never a plaintext.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from renum.errors import ConfigurationError, CredentialError

__all__ = [
    "KEY_BYTES",
    "KeyRing",
    "dev_master_keys",
    "generate_master_key",
]

#: AES-256: 32 bytes of key.
KEY_BYTES = 32
#: Bytes of a GCM nonce (96 bits, the size GCM is defined for).
NONCE_BYTES = 12
_VERSION = b"v1"
_KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def _b64(text: str) -> bytes:
    """Decode standard or URL-safe base64, padded or not."""
    text = text.strip().replace("+", "-").replace("/", "_")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def generate_master_key(key_id: str) -> str:
    """A fresh ``id:base64key`` entry for ``RENUM_MASTER_KEYS``."""
    if not _KEY_ID.fullmatch(key_id):
        raise ConfigurationError(f"master key id {key_id!r} must match [A-Za-z0-9_.-]{{1,64}}")
    return f"{key_id}:{base64.b64encode(os.urandom(KEY_BYTES)).decode()}"


def dev_master_keys(data_dir: Path) -> str:
    """The dev key ring, from ``data_dir/master_key`` (created on first use, mode 0600)."""
    from renum.settings import dev_secret  # settings imports this module

    secret, _created = dev_secret(data_dir, "master_key", nbytes=KEY_BYTES)
    return f"dev:{secret}"


@dataclass(frozen=True)
class KeyRing:
    """Master keys by id; the first is current. Build with :meth:`parse`."""

    keys: tuple[tuple[str, bytes], ...]
    _by_id: dict[str, AESGCM] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.keys:
            raise ConfigurationError("RENUM_MASTER_KEYS holds no key")
        by_id: dict[str, AESGCM] = {}
        for key_id, key in self.keys:
            if key_id in by_id:
                raise ConfigurationError(f"RENUM_MASTER_KEYS names key id {key_id!r} twice")
            by_id[key_id] = AESGCM(key)
        object.__setattr__(self, "_by_id", by_id)

    def __repr__(self) -> str:
        return f"KeyRing(current={self.current_id!r}, ids={list(self.ids)!r})"

    @classmethod
    def parse(cls, spec: str) -> KeyRing:
        """Read ``id:base64key,…``; a malformed or placeholder entry is a ConfigurationError."""
        keys = []
        for position, entry in enumerate(e.strip() for e in spec.split(",") if e.strip()):
            key_id, sep, encoded = entry.partition(":")
            key_id = key_id.strip()
            where = f"RENUM_MASTER_KEYS entry {position + 1}"
            if not sep or not _KEY_ID.fullmatch(key_id):
                raise ConfigurationError(
                    f"{where} must be `id:base64key` with an id of [A-Za-z0-9_.-]{{1,64}}"
                )
            try:
                key = _b64(encoded)
            except (binascii.Error, ValueError):
                raise ConfigurationError(f"{where} ({key_id}) is not base64") from None
            if len(key) != KEY_BYTES:
                raise ConfigurationError(
                    f"{where} ({key_id}) must be {KEY_BYTES} bytes of base64 "
                    f"(generate one with `renum keys generate`)"
                )
            if len(set(key)) < 16 or all(0x20 <= b < 0x7F for b in key):
                raise ConfigurationError(
                    f"{where} ({key_id}) is not random bytes (a placeholder, a pattern or "
                    "typed text): generate one with `renum keys generate`")  # fmt: skip
            keys.append((key_id, key))
        return cls(tuple(keys))

    @property
    def current_id(self) -> str:
        """The id of the key new ciphertexts are sealed with."""
        return self.keys[0][0]

    @property
    def ids(self) -> tuple[str, ...]:
        """Every key id of the ring, current first."""
        return tuple(key_id for key_id, _ in self.keys)

    def seal(self, plaintext: str, *, user_id: str, service: str) -> tuple[bytes, str]:
        """Encrypt under the current key; return (ciphertext, key id)."""
        key_id = self.current_id
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._by_id[key_id].encrypt(
            nonce, plaintext.encode(), _aad(user_id, service, key_id)
        )
        raw_id = key_id.encode()
        return _VERSION + bytes([len(raw_id)]) + raw_id + nonce + sealed, key_id

    def key_id_of(self, ciphertext: bytes) -> str:
        """The id of the master key that sealed ``ciphertext``."""
        return _split(ciphertext)[0]

    def open(self, ciphertext: bytes, *, user_id: str, service: str) -> str:
        """Decrypt; a CredentialError (naming the key id, never the plaintext) otherwise."""
        key_id, nonce, sealed = _split(ciphertext)
        aead = self._by_id.get(key_id)
        if aead is None:
            raise CredentialError(
                f"the {service!r} key was sealed with master key {key_id!r}, which is not in "
                f"RENUM_MASTER_KEYS (known: {', '.join(self.ids)})"
            )
        try:
            return aead.decrypt(nonce, sealed, _aad(user_id, service, key_id)).decode()
        except InvalidTag:
            raise CredentialError(
                f"the {service!r} key does not open with master key {key_id!r} "
                "(tampered, or copied from another user or service)"
            ) from None

    def is_current(self, ciphertext: bytes) -> bool:
        """Whether ``ciphertext`` is sealed with the current key."""
        return self.key_id_of(ciphertext) == self.current_id


def _aad(user_id: str, service: str, key_id: str) -> bytes:
    return b"\x00".join([b"renum/user_keys/v1", user_id.encode(), service.encode(),
                         key_id.encode()])  # fmt: skip


def _split(ciphertext: bytes) -> tuple[str, bytes, bytes]:
    data = bytes(ciphertext)
    if len(data) < 3 or data[:2] != _VERSION:
        raise CredentialError("a stored key is not a Renum ciphertext (unknown format)")
    id_len = data[2]
    key_id = data[3 : 3 + id_len].decode("ascii", "replace")
    body = data[3 + id_len :]
    if len(body) < NONCE_BYTES + 16:
        raise CredentialError(f"a stored key sealed with {key_id!r} is truncated")
    return key_id, body[:NONCE_BYTES], body[NONCE_BYTES:]
