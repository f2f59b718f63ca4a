"""Every failure of a Suna call, as one tree rooted at :class:`SunaError`.

::

    SunaError                         any failure of a call to Suna
    ├── SunaConnectionError           no usable connection (refused, reset, cut stream);
    │                                 ``request_sent`` says whether Suna may have seen it
    ├── SunaTimeoutError              a time limit ran out (``request_sent`` likewise)
    ├── SunaProtocolError             malformed JSON body, SSE line or response shape
    ├── SunaCircuitOpenError          refused locally: the base URL's breaker is open
    ├── SunaInvalidIdError            refused locally: a thread, run or agent id that is
    │                                 not a UUID (Suna answers those with a 500)
    ├── SunaFlavourError              which API the deployment speaks cannot be told,
    │                                 or it lacks what was asked (optimistic starts)
    ├── SunaUnknownAgentError         no agent, or several, of the account has that name
    └── SunaStatusError               Suna answered an error status (status, detail,
        │                             error_code, body_excerpt, request_id); also 400/401/422
        ├── SunaUnauthorizedError     401 the credentials (token or API key) were refused
        ├── SunaNotFoundError         404 thread, run or agent not found
        ├── SunaForbiddenError        403 thread of another account, model not allowed
        │   └── SunaAgentsDisabledError   403 of the agents list: custom agents are off
        ├── SunaPaymentRequiredError  402 billing exhausted (out of credit)
        ├── SunaQuotaExceededError    402 THREAD_LIMIT_EXCEEDED / PROJECT_LIMIT_EXCEEDED:
        │                             the plan's thread or project quota, not credit
        ├── SunaRateLimitedError      429 (or 402 AGENT_RUN_LIMIT_EXCEEDED): retry_after,
        │                             running_count, limit
        └── SunaServerError           5xx

aiohttp's exceptions become these in one place, :func:`translate`; error
statuses in :func:`status_error`. Messages carry the route (method and
template, ``GET /api/agent-run/{rid}``), the request id, the status and a body
excerpt with every known secret scrubbed; never a header value.

Each class says what it means for a caller as two attributes: ``code``, a
stable string for records and APIs (``suna_unreachable``, ``suna_quota_exceeded``
…), and ``retryable``, whether the same call may succeed later without anyone
changing anything (an outage, a limit) rather than never (a refusal).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

import aiohttp

__all__ = [
    "SunaAgentsDisabledError",
    "SunaCircuitOpenError",
    "SunaConnectionError",
    "SunaError",
    "SunaFlavourError",
    "SunaForbiddenError",
    "SunaInvalidIdError",
    "SunaNotFoundError",
    "SunaPaymentRequiredError",
    "SunaProtocolError",
    "SunaQuotaExceededError",
    "SunaRateLimitedError",
    "SunaServerError",
    "SunaStatusError",
    "SunaTimeoutError",
    "SunaUnauthorizedError",
    "SunaUnknownAgentError",
    "check_uuid",
    "is_uuid",
    "scrub",
    "status_error",
    "translate",
]

EXCERPT_CHARS = 300
QUOTA_CODES = frozenset({"THREAD_LIMIT_EXCEEDED", "PROJECT_LIMIT_EXCEEDED"})
"""402 ``error_code`` values that mean a plan quota rather than exhausted credit."""


class SunaError(Exception):
    """Root of every error the Suna client raises."""

    code: ClassVar[str] = "suna_error"
    """What went wrong, as a stable string (records, APIs, metrics)."""
    retryable: ClassVar[bool] = False
    """Whether the same call may succeed later with nothing changed (an outage, a limit)."""

    def __init__(
        self, message: str, *, method: str = "", route: str = "", request_id: str | None = None
    ) -> None:
        where = f" on {route}" if route else ""
        rid = f" (request_id={request_id})" if request_id else ""
        super().__init__(f"{message}{where}{rid}")
        self.method = method
        self.route = route
        self.request_id = request_id


class SunaConnectionError(SunaError):
    """No usable connection; ``request_sent=False`` proves Suna never saw the request."""

    code = "suna_unreachable"
    retryable = True

    def __init__(self, message: str, *, request_sent: bool, **ctx: Any) -> None:
        super().__init__(message, **ctx)
        self.request_sent = request_sent


class SunaTimeoutError(SunaError):
    """A time limit ran out (connect, read, stream silence or a total budget)."""

    code = "suna_timeout"
    retryable = True

    def __init__(self, message: str, *, request_sent: bool = True, **ctx: Any) -> None:
        super().__init__(message, **ctx)
        self.request_sent = request_sent


class SunaProtocolError(SunaError):
    """Suna's answer does not parse or does not have the documented shape."""

    code = "suna_protocol_error"
    retryable = True


class SunaCircuitOpenError(SunaError):
    """The breaker of this base URL is open; nothing was sent."""

    code = "suna_unreachable"
    retryable = True

    def __init__(self, message: str, *, retry_in_s: float, **ctx: Any) -> None:
        super().__init__(message, **ctx)
        self.retry_in_s = retry_in_s


class SunaInvalidIdError(SunaError):
    """An id that is not a UUID: refused before any request (Suna would answer 500)."""

    code = "suna_invalid_id"
    retryable = False

    def __init__(self, kind: str, value: str, **ctx: Any) -> None:
        super().__init__(f"{kind} id {value[:80]!r} is not a UUID", **ctx)
        self.kind = kind
        self.value = value


class SunaFlavourError(SunaError):
    """The deployment's API flavour cannot be told, or does not offer what was asked."""

    code = "suna_flavour"
    retryable = False


class SunaUnknownAgentError(SunaError):
    """No agent of the account has this name, or more than one has (``matches``)."""

    code = "suna_unknown_agent"
    retryable = False

    def __init__(self, name: str, matches: int, **ctx: Any) -> None:
        what = "no agent" if matches == 0 else f"{matches} agents"
        super().__init__(f"{what} of the Suna account named {name!r}", **ctx)
        self.name = name
        self.matches = matches


class SunaStatusError(SunaError):
    """Suna answered with an error status."""

    code = "suna_refused"
    retryable = False

    def __init__(
        self,
        *,
        status: int,
        detail: Any,
        body_excerpt: str,
        error_code: str | None = None,
        **ctx: Any,
    ) -> None:
        text = detail.get("message") if isinstance(detail, dict) else detail
        shown = text if text else body_excerpt
        super().__init__(f"Suna answered {status}: {shown}", **ctx)
        self.status = status
        self.detail = detail
        self.body_excerpt = body_excerpt
        self.error_code = error_code


class SunaUnauthorizedError(SunaStatusError):
    """401: Suna refused the credentials (a wrong key or secret, an expired token)."""

    code = "suna_unauthorized"
    retryable = False


class SunaNotFoundError(SunaStatusError):
    """404: the thread, run or agent does not exist (for this account)."""

    code = "suna_not_found"
    retryable = False


class SunaForbiddenError(SunaStatusError):
    """403: the thread belongs to another account, or the model is not allowed."""

    code = "suna_forbidden"
    retryable = False


class SunaAgentsDisabledError(SunaForbiddenError):
    """403 of the agents list: the deployment's ``custom_agents`` flag is off."""

    code = "suna_agents_disabled"
    retryable = False


class SunaPaymentRequiredError(SunaStatusError):
    """402: the account's billing is exhausted."""

    code = "suna_out_of_credit"
    retryable = False


class SunaQuotaExceededError(SunaStatusError):
    """402 ``THREAD_LIMIT_EXCEEDED`` / ``PROJECT_LIMIT_EXCEEDED``: a plan quota, not credit."""

    code = "suna_quota_exceeded"
    retryable = False


class SunaRateLimitedError(SunaStatusError):
    """Too many parallel runs (429, or 402 ``AGENT_RUN_LIMIT_EXCEEDED``) or a throttle."""

    code = "suna_run_limit"
    retryable = True

    def __init__(
        self,
        *,
        retry_after: float | None,
        running_count: int | None,
        limit: int | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.retry_after = retry_after
        self.running_count = running_count
        self.limit = limit


class SunaServerError(SunaStatusError):
    """5xx: Suna (or a proxy in front of it) failed."""

    code = "suna_server_error"
    retryable = True


def is_uuid(value: str) -> bool:
    """Whether ``value`` is a UUID (what Suna's ids are; anything else it answers with 500)."""
    try:
        uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return False
    return True


def check_uuid(kind: str, value: str) -> str:
    """``value`` if it is a UUID; :class:`SunaInvalidIdError` otherwise."""
    if not is_uuid(value):
        raise SunaInvalidIdError(kind, str(value))
    return value


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every non-empty secret replaced by ``***``."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def translate(
    exc: BaseException,
    *,
    method: str,
    route: str,
    request_id: str | None,
    secrets: Iterable[str] = (),
) -> SunaError:
    """The one map from an aiohttp (or asyncio) failure to a :class:`SunaError`."""
    ctx: dict[str, Any] = {"method": method, "route": route, "request_id": request_id}
    if isinstance(exc, SunaError):
        return exc
    what = scrub(f"{type(exc).__name__}: {exc}", secrets)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return SunaTimeoutError(f"connect timeout ({what})", request_sent=False, **ctx)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return SunaConnectionError(f"cannot connect ({what})", request_sent=False, **ctx)
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return SunaTimeoutError(f"timed out ({what})", request_sent=True, **ctx)
    if isinstance(exc, aiohttp.InvalidURL):
        return SunaConnectionError(f"invalid URL ({what})", request_sent=False, **ctx)
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ClientConnectionError | OSError):
        return SunaConnectionError(f"connection lost ({what})", request_sent=True, **ctx)
    if isinstance(exc, aiohttp.ClientResponseError | ValueError):
        return SunaProtocolError(f"malformed response ({what})", **ctx)
    return SunaConnectionError(f"client failure ({what})", request_sent=True, **ctx)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def status_error(
    status: int,
    body: bytes,
    *,
    retry_after: str | None,
    method: str,
    route: str,
    request_id: str | None,
    secrets: Iterable[str] = (),
) -> SunaStatusError:
    """The :class:`SunaStatusError` for an error answer, from its FastAPI body."""
    secrets = tuple(secrets)
    excerpt = scrub(body[: EXCERPT_CHARS * 4].decode("utf-8", "replace"), secrets)[:EXCERPT_CHARS]
    detail: Any = None
    try:
        parsed = json.loads(body)
        detail = parsed.get("detail") if isinstance(parsed, dict) else None
    except ValueError:
        pass
    if isinstance(detail, str):
        detail = scrub(detail, secrets)
    elif detail is not None:
        detail = json.loads(scrub(json.dumps(detail), secrets))
    code = detail.get("error_code") if isinstance(detail, dict) else None
    kw: dict[str, Any] = {
        "status": status,
        "detail": detail,
        "body_excerpt": excerpt,
        "error_code": code if isinstance(code, str) else None,
        "method": method,
        "route": route,
        "request_id": request_id,
    }
    if status == 429 or (status == 402 and code == "AGENT_RUN_LIMIT_EXCEEDED"):
        info = detail if isinstance(detail, dict) else {}
        return SunaRateLimitedError(
            retry_after=_retry_after(retry_after),
            running_count=_int_or_none(info.get("running_count")),
            limit=_int_or_none(info.get("limit")),
            **kw,
        )
    if status == 402 and code in QUOTA_CODES:
        return SunaQuotaExceededError(**kw)
    by_status: dict[int, type[SunaStatusError]] = {
        401: SunaUnauthorizedError,
        402: SunaPaymentRequiredError,
        403: SunaForbiddenError,
        404: SunaNotFoundError,
    }
    cls = by_status.get(status) or (SunaServerError if status >= 500 else SunaStatusError)
    return cls(**kw)
