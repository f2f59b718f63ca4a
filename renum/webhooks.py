"""Completion webhooks: signed, retried, recorded, and never sent to private addresses.

A trigger (``migrations/005_webhooks.sql``) writes a ``webhook_deliveries`` row
in the transaction that finishes an execution with a ``webhook_url``; the
:class:`WebhookDispatcher` loop of every worker claims due rows with
``FOR UPDATE SKIP LOCKED``, POSTs the summary and records each attempt in
``webhook_attempts``. A claim pushes ``next_attempt_at`` past the attempt's
time limit first, so a worker that dies mid-send leaves the row to another.

Signature: ``Renum-Signature: t=<unix ts>,v1=<hex HMAC-SHA256 of "{t}.{body}">``
with the user's secret (``GET /v1/webhooks/secret``), as Stripe does.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from pydantic import AfterValidator, Field, StringConstraints
from yarl import URL

from renum.errors import RequestValidationProblem
from renum.settings import Settings

__all__ = [
    "SIGNATURE_HEADER",
    "BlockedTargetError",
    "WebhookDispatcher",
    "WebhookUrl",
    "check_webhook_url",
    "deliveries",
    "rotate_secret",
    "sign",
    "user_secret",
    "verify_signature",
]

_log = logging.getLogger("renum.webhooks")
SIGNATURE_HEADER = "Renum-Signature"
#: Longest wait between two attempts.
MAX_BACKOFF_S = 3600.0
#: Deliveries one dispatcher claims per turn.
BATCH = 20
#: Deliveries one dispatcher has in flight at once, each on its own (and its own timeout).
MAX_IN_FLIGHT = 50
#: Characters of a response or error kept on an attempt.
ERROR_CHARS = 500


class BlockedTargetError(Exception):
    """The webhook's host resolves to an address deliveries may not reach."""


def check_webhook_url(url: str) -> str:
    """Validate a webhook URL's shape (http/https with a host); raise ValueError if not."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError("must be an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError("must name a host")
    if parts.username or parts.password:
        raise ValueError("must not carry credentials")
    return url


def refuse_blocked(url: str | None, settings: Settings) -> None:
    """422 when a team or launch names a webhook at an address deliveries may not reach
    (judged as the client reads the host), unless RENUM_WEBHOOK_ALLOW_PRIVATE."""
    if url is None or settings.webhook_allow_private:
        return
    host = blocked_literal(url)
    if host is not None:
        raise RequestValidationProblem(
            "The webhook URL points at a private or reserved address", errors=[
                {"path": "/body/webhook_url", "code": "blocked_target",
                 "message": f"{host} is not a public address (RENUM_WEBHOOK_ALLOW_PRIVATE "
                            "allows it)"}])  # fmt: skip


WebhookUrl = Annotated[
    Annotated[str, StringConstraints(max_length=2000), AfterValidator(check_webhook_url)] | None,
    Field(examples=["https://example.com/hooks/renum"],
          description="POSTed a signed summary when an execution finishes (http/https)"),
]
"""The `webhook_url` field of a team or a launch: http/https with a host, or null."""


#: IPv6 prefixes whose last 32 bits are an IPv4 address reached through them: NAT64
#: (well-known and local-use) and the deprecated IPv4-compatible form (``::a.b.c.d``).
_EMBEDDING_V4 = tuple(ipaddress.IPv6Network(n) for n in ("64:ff9b::/96", "64:ff9b:1::/48",
                                                         "::/96"))  # fmt: skip


def _blocked(address: str) -> bool:
    """Whether deliveries may not reach ``address`` (any IPv4 it embeds is judged too)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and any(ip in net for net in _EMBEDDING_V4) and int(ip) > 1:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None and _blocked(str(embedded)):
            return True
    return not ip.is_global or ip.is_multicast


def connect_host(url: str) -> str:
    """The host as the HTTP client will connect to it: aiohttp's URLs (yarl) apply IDNA
    and NFKC, so 127.0.0.1 written in fullwidth digits, or with ideographic full stops,
    is the address 127.0.0.1."""
    try:
        return URL(url).host or ""
    except (ValueError, UnicodeError):
        return urlsplit(url).hostname or ""


def blocked_literal(url: str) -> str | None:
    """The address ``url`` names literally (as the client reads it) if deliveries may not
    reach it, else None (a name is judged when it is resolved, at every delivery)."""
    host = connect_host(url)
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    return host if _blocked(host) else None


class _GuardedResolver(AbstractResolver):
    """Resolves like aiohttp does, then drops every non-public address (DNS rebinding too)."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = [
            r for r in await self._inner.resolve(host, port, family) if not _blocked(r["host"])
        ]
        if not results:
            raise BlockedTargetError(f"{host} resolves only to private or reserved addresses")
        return results

    async def close(self) -> None:
        await self._inner.close()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``Renum-Signature`` header value for a body."""
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def verify_signature(secret: str, body: bytes, header: str, *, tolerance_s: int = 300) -> bool:
    """Check a ``Renum-Signature`` header (what a receiver does); rejects stale timestamps."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    if not fields.get("t", "").isdigit() or "v1" not in fields:
        return False
    ts = int(fields["t"])
    if abs(time.time() - ts) > tolerance_s:
        return False
    expected = sign(secret, body, ts).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields["v1"])


async def user_secret(pool: Any, user_id: str) -> str:
    """The user's signing secret, created on first use."""
    await pool.execute(
        "INSERT INTO webhook_secrets (user_id, secret) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        user_id,
        "whsec_" + secrets.token_urlsafe(32),
    )
    secret: str = await pool.fetchval(
        "SELECT secret FROM webhook_secrets WHERE user_id = $1", user_id
    )
    return secret


async def rotate_secret(pool: Any, user_id: str) -> str:
    """Replace the user's signing secret; deliveries from now on use the new one."""
    secret: str = await pool.fetchval(
        """INSERT INTO webhook_secrets (user_id, secret) VALUES ($1, $2)
           ON CONFLICT (user_id) DO UPDATE SET secret = EXCLUDED.secret, rotated_at = now()
           RETURNING secret""",
        user_id,
        "whsec_" + secrets.token_urlsafe(32),
    )
    return secret


async def build_payload(pool: Any, delivery: Any) -> dict[str, Any]:
    """The JSON summary of a finished execution that a webhook carries."""
    ex = await pool.fetchrow(
        """SELECT id, team_id, status, error, metadata, created_at, started_at, finished_at
             FROM executions WHERE id = $1""",
        delivery["execution_id"],
    )
    usage = await pool.fetchrow(
        """SELECT count(*) AS runs, coalesce(sum(input_tokens), 0) AS input_tokens,
                  coalesce(sum(output_tokens), 0) AS output_tokens,
                  coalesce(sum(cost_usd), 0) AS cost_usd
             FROM usage_log WHERE execution_id = $1""",
        delivery["execution_id"],
    )
    steps = await pool.fetch(
        """SELECT DISTINCT ON (step_id) step_id, status, answer FROM step_runs
            WHERE execution_id = $1 ORDER BY step_id, attempt DESC""",
        delivery["execution_id"],
    )
    return {
        "event": delivery["event"],
        "delivery_id": delivery["id"],
        "execution": {
            "id": str(ex["id"]),
            "team_id": str(ex["team_id"]),
            "status": ex["status"],
            "error": ex["error"],
            "metadata": ex["metadata"],
            "created_at": iso(ex["created_at"]),
            "started_at": iso(ex["started_at"]),
            "finished_at": iso(ex["finished_at"]),
            "links": {"self": f"/v1/executions/{ex['id']}"},
        },
        "steps": [
            {"step_id": s["step_id"], "status": s["status"], "answer": s["answer"]} for s in steps
        ],
        "usage": {
            "agent_runs": int(usage["runs"]),
            "input_tokens": int(usage["input_tokens"]),
            "output_tokens": int(usage["output_tokens"]),
            "cost_usd": str(Decimal(usage["cost_usd"])),
        },
    }


def iso(value: datetime | None) -> str | None:
    """ISO 8601 text of a timestamp, or None."""
    return value.isoformat() if value else None


def _settled(in_flight: set[asyncio.Task[None]]) -> Callable[[asyncio.Task[None]], None]:
    """A done-callback: the delivery leaves ``in_flight``; a failure of its own is logged
    (the row's lease expires and it is tried again)."""

    def done(task: asyncio.Task[None]) -> None:
        in_flight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _log.warning("webhook delivery failed: %s", type(task.exception()).__name__)

    return done


def backoff_s(attempt: int, base_s: float) -> float:
    """Delay before attempt ``attempt + 1``: base, 2 base, 4 base… capped at an hour."""
    return float(min(MAX_BACKOFF_S, base_s * 2 ** (attempt - 1)))


class WebhookDispatcher:
    """Sends the deliveries that are due; run :meth:`run` as one of a worker's loops."""

    def __init__(self, pool: Any, settings: Settings, *, poll_s: float = 1.0) -> None:
        self._pool = pool
        self._settings = settings
        self.poll_s = poll_s

    async def run(self) -> None:
        """Deliver until cancelled: each claimed delivery is attempted in a task of its own,
        so a receiver that answers slowly delays no other (up to MAX_IN_FLIGHT at once)."""
        in_flight: set[asyncio.Task[None]] = set()
        async with self._session() as http:
            try:
                while True:
                    rows: list[Any] = []
                    free = MAX_IN_FLIGHT - len(in_flight)
                    if free > 0:
                        try:
                            rows = await self._claim(min(BATCH, free))
                        except Exception as exc:
                            _log.warning("webhook turn failed: %s", type(exc).__name__)
                    for row in rows:
                        task = asyncio.create_task(self._attempt(http, row))
                        in_flight.add(task)
                        task.add_done_callback(_settled(in_flight))
                    if len(rows) < BATCH or len(in_flight) >= MAX_IN_FLIGHT:
                        # until a slot frees (full) or the next poll (nothing more due)
                        poll = asyncio.ensure_future(asyncio.sleep(self.poll_s))
                        try:
                            await asyncio.wait({*in_flight, poll},
                                               return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
                        finally:
                            poll.cancel()
            finally:
                for task in in_flight:
                    task.cancel()
                await asyncio.gather(*in_flight, return_exceptions=True)

    def _session(self) -> aiohttp.ClientSession:
        resolver = None if self._settings.webhook_allow_private else _GuardedResolver()
        connector = aiohttp.TCPConnector(resolver=resolver, limit=50)
        timeout = aiohttp.ClientTimeout(total=self._settings.webhook_timeout_s)
        return aiohttp.ClientSession(connector=connector, timeout=timeout)

    async def deliver_due(self, http: aiohttp.ClientSession) -> int:
        """Claim the due deliveries and attempt each once, waiting for all; how many."""
        rows = await self._claim(BATCH)
        await asyncio.gather(*(self._attempt(http, row) for row in rows))
        return len(rows)

    async def _claim(self, limit: int) -> list[Any]:
        """Up to ``limit`` due deliveries, leased for one attempt (``attempts`` counted)."""
        lease_s = self._settings.webhook_timeout_s + 30
        rows: list[Any] = await self._pool.fetch(
            """UPDATE webhook_deliveries d
                  SET attempts = attempts + 1,
                      next_attempt_at = now() + make_interval(secs => $2)
                WHERE id IN (SELECT id FROM webhook_deliveries
                              WHERE state = 'pending' AND next_attempt_at <= now()
                              ORDER BY next_attempt_at LIMIT $1
                              FOR UPDATE SKIP LOCKED)
            RETURNING d.*""",
            limit,
            lease_s,
        )
        return rows

    async def _prepare(self, row: Any) -> tuple[bytes, str]:
        payload = row["payload"]
        if payload is None:
            payload = await build_payload(self._pool, row)
            await self._pool.execute(
                "UPDATE webhook_deliveries SET payload = $2 WHERE id = $1", row["id"], payload
            )
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        return body, await user_secret(self._pool, row["user_id"])

    async def _attempt(self, http: aiohttp.ClientSession, row: Any) -> None:
        try:
            body, secret = await self._prepare(row)
        except Exception as exc:  # counted as an attempt, so a poisoned row ends as failed
            _log.exception("webhook %s: cannot build the delivery", row["id"])
            await self._record(row, time.time(), 0, None, f"internal: {type(exc).__name__}")
            return
        started, t0 = time.time(), time.monotonic()
        status: int | None = None
        error: str | None = None
        try:
            self._check_literal(row["url"])
            async with http.post(
                row["url"],
                data=body,
                allow_redirects=False,
                headers={
                    "Content-Type": "application/json",
                    SIGNATURE_HEADER: sign(secret, body),
                    "Renum-Delivery": str(row["id"]),
                    "User-Agent": "Renum-Webhooks/1",
                },
            ) as resp:
                status = resp.status
                if not 200 <= status < 300:
                    error = f"HTTP {status}: {(await resp.text(errors='replace'))[:200]}"
        except BlockedTargetError as exc:
            error = f"blocked: {exc}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:ERROR_CHARS]
        await self._record(row, started, int((time.monotonic() - t0) * 1000), status, error)

    def _check_literal(self, url: str) -> None:
        if self._settings.webhook_allow_private:
            return
        host = blocked_literal(url)  # a name: the guarded resolver checks what it resolves to
        if host is not None:
            raise BlockedTargetError(f"{host} is a private or reserved address")

    async def _record(
        self, row: Any, started: float, duration_ms: int, status: int | None, error: str | None
    ) -> None:
        attempt = row["attempts"]
        if error is None:
            state, next_in = "delivered", 0.0
        elif attempt >= self._settings.webhook_max_attempts or error.startswith("blocked"):
            state, next_in = "failed", 0.0
        else:
            state, next_in = "pending", backoff_s(attempt, self._settings.webhook_backoff_s)
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """INSERT INTO webhook_attempts (delivery_id, attempt, started_at, duration_ms,
                                                 response_status, error)
                   VALUES ($1, $2, to_timestamp($3), $4, $5, $6)
                   ON CONFLICT DO NOTHING""",
                row["id"],
                attempt,
                started,
                duration_ms,
                status,
                error,
            )
            await conn.execute(
                """UPDATE webhook_deliveries
                      SET state = $2, last_error = $3,
                          next_attempt_at = now() + make_interval(secs => $4),
                          delivered_at = CASE WHEN $2 = 'delivered' THEN now() END
                    WHERE id = $1""",
                row["id"],
                state,
                error,
                next_in,
            )
        if error:
            _log.info("webhook %s attempt %d: %s (%s)", row["id"], attempt, error, state)


async def deliveries(pool: Any, execution_id: Any) -> list[dict[str, Any]]:
    """An execution's webhook deliveries with every attempt, as the API shows them."""
    rows = await pool.fetch(
        "SELECT * FROM webhook_deliveries WHERE execution_id = $1 ORDER BY id", execution_id
    )
    out = []
    for row in rows:
        attempts = await pool.fetch(
            "SELECT * FROM webhook_attempts WHERE delivery_id = $1 ORDER BY attempt", row["id"]
        )
        out.append(
            {
                "id": row["id"],
                "url": row["url"],
                "event": row["event"],
                "state": row["state"],
                "attempts": row["attempts"],
                "last_error": row["last_error"],
                "next_attempt_at": row["next_attempt_at"].isoformat()
                if row["state"] == "pending"
                else None,
                "delivered_at": row["delivered_at"].isoformat() if row["delivered_at"] else None,
                "attempt_log": [
                    {
                        "attempt": a["attempt"],
                        "started_at": a["started_at"].isoformat(),
                        "duration_ms": a["duration_ms"],
                        "response_status": a["response_status"],
                        "error": a["error"],
                    }
                    for a in attempts
                ],
            }
        )
    return out
