"""Users' stored provider keys: write, list (masked), open for a request, and rotate.

Rows of ``user_keys`` hold only ciphertext (see :mod:`renum.keys`), the id of
the master key that sealed it and the value's last four characters. Plaintext
exists only while a request to Suna is being made (:func:`open_keys`) and in
the body of the ``PUT`` that stores it.

:func:`rotate` re-wraps every row not sealed with the current master key, a
batch per transaction with ``FOR UPDATE SKIP LOCKED``: readers are never
blocked (PostgreSQL's MVCC), a concurrent ``PUT`` only delays its own row, and
executions keep opening keys throughout because the ring still holds the old
key while the rotation runs.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

from renum.errors import ConflictError, CredentialError
from renum.keys import KeyRing

__all__ = [
    "MAX_KEYS_PER_USER",
    "MAX_VALUE_CHARS",
    "SERVICE_PATTERN",
    "RotationReport",
    "delete_key",
    "list_keys",
    "open_keys",
    "put_key",
    "rotate",
    "services_of",
]

_log = logging.getLogger("renum.vault")

#: A service name: also the suffix of its ``X-API-Key-<service>`` header.
SERVICE_PATTERN = r"^[a-z0-9_-]{1,64}$"
#: Longest key value accepted (a header line must stay well under 8 KiB).
MAX_VALUE_CHARS = 4096
#: Most keys one user may store (each is one header on every start).
MAX_KEYS_PER_USER = 32
#: Values shorter than this show no last four characters (too much of the key).
_MIN_CHARS_FOR_LAST4 = 12
_SERVICE = re.compile(SERVICE_PATTERN)


def _last4(value: str) -> str:
    return value[-4:] if len(value) >= _MIN_CHARS_FOR_LAST4 else ""


async def put_key(pool: Any, ring: KeyRing, user_id: str, service: str, value: str) -> tuple[
        Any, bool]:  # fmt: skip
    """Store (or replace) a user's key; return the row (no ciphertext) and whether it is new."""
    assert _SERVICE.fullmatch(service)
    ciphertext, key_id = ring.seal(value, user_id=user_id, service=service)
    async with pool.acquire() as conn, conn.transaction():
        count = await conn.fetchval(
            "SELECT count(*) FROM user_keys WHERE user_id = $1 AND service <> $2",
            user_id, service,
        )  # fmt: skip
        if count >= MAX_KEYS_PER_USER:
            raise ConflictError(f"A user may store at most {MAX_KEYS_PER_USER} keys")
        row = await conn.fetchrow(
            """INSERT INTO user_keys (user_id, service, ciphertext, key_id, last4)
               VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (user_id, service) DO UPDATE
                  SET ciphertext = EXCLUDED.ciphertext, key_id = EXCLUDED.key_id,
                      last4 = EXCLUDED.last4, updated_at = now()
               RETURNING service, last4, key_id, created_at, updated_at,
                         (xmax = 0) AS inserted""",
            user_id, service, ciphertext, key_id, _last4(value),
        )  # fmt: skip
    return row, bool(row["inserted"])


async def list_keys(pool: Any, user_id: str) -> list[Any]:
    """The user's keys, masked: service, last4, key_id and timestamps, by service."""
    rows: list[Any] = await pool.fetch(
        """SELECT service, last4, key_id, created_at, updated_at FROM user_keys
            WHERE user_id = $1 ORDER BY service""",
        user_id,
    )
    return rows


async def delete_key(pool: Any, user_id: str, service: str) -> bool:
    """Delete a user's key; False when there was none."""
    done = await pool.fetchval(
        "DELETE FROM user_keys WHERE user_id = $1 AND service = $2 RETURNING 1", user_id, service
    )
    return done is not None


def plausible_key(value: str) -> bool:
    """Whether a stored value could be a provider key (long enough, no spaces): a value
    that is obviously not one never makes a usage row say the user's key paid."""
    return len(value) >= 16 and not any(c.isspace() for c in value)


async def services_of(pool: Any, user_id: str) -> frozenset[str]:
    """The services the user has a key for (nothing is decrypted)."""
    rows = await pool.fetch("SELECT service FROM user_keys WHERE user_id = $1", user_id)
    return frozenset(r["service"] for r in rows)


async def open_keys(pool: Any, ring: KeyRing, user_id: str) -> dict[str, str]:
    """Decrypt every key of the user, for one outbound request; the caller must not keep it."""
    rows = await pool.fetch("SELECT service, ciphertext FROM user_keys WHERE user_id = $1", user_id)
    return open_sealed(ring, user_id, [r["service"] for r in rows], [r["ciphertext"] for r in rows])


def sealed_keys_sql(user: str) -> str:
    """Columns ``key_services`` and ``key_sealed`` (arrays, NULL when none) of the user's keys.

    For a larger statement that also needs the keys (``user`` is an SQL
    expression); :func:`open_sealed` decrypts them when the request goes out.
    """
    return (f"(SELECT array_agg(service ORDER BY service) FROM user_keys WHERE user_id = {user})"
            " AS key_services, "
            f"(SELECT array_agg(ciphertext ORDER BY service) FROM user_keys WHERE user_id = {user})"
            " AS key_sealed")  # fmt: skip


def open_sealed(
    ring: KeyRing, user_id: str, services: list[str] | None, sealed: list[bytes] | None
) -> dict[str, str]:
    """Decrypt keys read as two arrays, for one outbound request; the caller must not keep it."""
    return {service: ring.open(ciphertext, user_id=user_id, service=service)
            for service, ciphertext in zip(services or [], sealed or [], strict=True)}  # fmt: skip


@dataclass
class RotationReport:
    """What a rotation did."""

    current_id: str
    rewrapped: int = 0
    batches: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    """``user_id/service`` → why it could not be opened (names a key id, never a value)."""
    remaining: int = 0
    """Rows still not under the current key afterwards (failed ones, or written meanwhile)."""


async def rotate(pool: Any, ring: KeyRing, *, batch: int = 500) -> RotationReport:
    """Re-wrap every stored key under the ring's current master key, a batch at a time."""
    report = RotationReport(ring.current_id)
    skip: list[tuple[str, str]] = []  # rows that would not open: not tried again
    while True:
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                """SELECT user_id, service, ciphertext FROM user_keys
                    WHERE key_id <> $1
                      AND (user_id, service) NOT IN (
                          SELECT * FROM unnest($2::text[], $3::text[]))
                    ORDER BY user_id, service
                    LIMIT $4 FOR UPDATE SKIP LOCKED""",
                ring.current_id, [u for u, _ in skip], [s for _, s in skip], batch,
            )  # fmt: skip
            if not rows:
                break
            for row in rows:
                user_id, service = row["user_id"], row["service"]
                try:
                    value = ring.open(row["ciphertext"], user_id=user_id, service=service)
                except CredentialError as exc:
                    report.failed[f"{user_id}/{service}"] = exc.detail
                    skip.append((user_id, service))
                    continue
                ciphertext, key_id = ring.seal(value, user_id=user_id, service=service)
                del value
                await conn.execute(
                    """UPDATE user_keys SET ciphertext = $3, key_id = $4
                        WHERE user_id = $1 AND service = $2""",
                    user_id, service, ciphertext, key_id,
                )  # fmt: skip
                report.rewrapped += 1
        report.batches += 1
        _log.info("rotation: %d key(s) re-wrapped so far", report.rewrapped)
    report.remaining = await pool.fetchval(
        "SELECT count(*) FROM user_keys WHERE key_id <> $1", ring.current_id
    )
    return report
