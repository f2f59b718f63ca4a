"""Renum's error tree and the one map from it to HTTP problem+json (RFC 9457).

::

    RenumError                      500 internal_error
    ├── ConfigurationError          (raised at start; never reaches HTTP)
    ├── MigrationError              (raised by `renum migrate`)
    ├── AuthenticationError         401 unauthenticated
    ├── PermissionDeniedError       403 forbidden
    ├── NotFoundError               404 not_found
    ├── ConflictError               409 conflict
    ├── CredentialError             500 credential_error (a stored key does not open)
    ├── RequestValidationProblem    422 validation_error (with errors[])
    ├── PaymentRequiredError        402 budget_exhausted
    └── ServiceUnavailableError     503 service_unavailable

Routes raise these; :func:`install_error_handlers` turns every one of them, and
every framework error (unknown route, bad JSON, wrong method), into
``application/problem+json`` with our ``code``. Nothing else reaches a client:
an unexpected exception is logged and answered 500 without its text.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = [
    "PROBLEM_JSON",
    "AuthenticationError",
    "ConfigurationError",
    "ConflictError",
    "CredentialError",
    "MigrationError",
    "NotFoundError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "RenumError",
    "RequestValidationProblem",
    "ServiceUnavailableError",
    "SunaUnavailableError",
    "TooManyRequestsError",
    "install_error_handlers",
    "problem_response",
]

PROBLEM_JSON = "application/problem+json"
_log = logging.getLogger("renum.errors")


class RenumError(Exception):
    """Root of every error Renum raises on purpose."""

    status = 500
    code = "internal_error"

    def __init__(self, detail: str, *, errors: Sequence[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors or [])


class ConfigurationError(RenumError):
    """Settings that cannot work (missing or placeholder secrets, bad URLs)."""


class MigrationError(RenumError):
    """A migration cannot be applied, or an applied one was edited."""


class AuthenticationError(RenumError):
    """No credentials, or credentials that do not verify."""

    status = 401
    code = "unauthenticated"


class PermissionDeniedError(RenumError):
    """Authenticated, but not allowed (e.g. an admin-only route)."""

    status = 403
    code = "forbidden"


class NotFoundError(RenumError):
    """No such resource for this caller (another user's rows are not found too)."""

    status = 404
    code = "not_found"


class ConflictError(RenumError):
    """The request conflicts with the current state (duplicate name, etc.)."""

    status = 409
    code = "conflict"


class CredentialError(RenumError):
    """A user's stored key cannot be opened (unknown master key id, tampering).

    The message names the service and master key id, never the plaintext.
    """

    code = "credential_error"


class RequestValidationProblem(RenumError):
    """The request is well-formed HTTP but its content is invalid."""

    status = 422
    code = "validation_error"


class PaymentRequiredError(RenumError):
    """A budget is exhausted."""

    status = 402
    code = "budget_exhausted"


class ServiceUnavailableError(RenumError):
    """A dependency (PostgreSQL, Redis) is down."""

    status = 503
    code = "service_unavailable"


class SunaUnavailableError(ServiceUnavailableError):
    """Suna could not answer what the request needs from it (a check of agents)."""

    code = "suna_unavailable"
    retry_after_s = 30


class TooManyRequestsError(RenumError):
    """A per-user rate or quota was reached: try again after ``retry_after_s``."""

    status = 429
    code = "rate_limited"

    def __init__(self, detail: str, *, code: str | None = None, retry_after_s: int = 1) -> None:
        super().__init__(detail)
        if code is not None:
            self.code = code
        self.retry_after_s = max(1, retry_after_s)


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    instance: str | None = None,
    errors: Sequence[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """Build an RFC 9457 problem response."""
    body: dict[str, Any] = {
        "type": f"https://renum.dev/problems/{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if instance is not None:
        body["instance"] = instance
    if errors:
        body["errors"] = list(errors)
    if extra:
        body.update(extra)
    return JSONResponse(
        body, status_code=status, media_type=PROBLEM_JSON, headers=dict(headers or {})
    )


def _pointer(loc: Sequence[int | str]) -> str:
    parts = [str(p).replace("~", "~0").replace("/", "~1") for p in loc]
    return "/" + "/".join(parts)


def _renum_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RenumError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    if isinstance(exc, SunaUnavailableError | TooManyRequestsError):
        headers = {"Retry-After": str(exc.retry_after_s)}
    return problem_response(
        exc.status,
        exc.code,
        exc.detail,
        instance=request.url.path,
        errors=exc.errors,
        headers=headers,
    )


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for err in exc.errors():
        loc = list(err.get("loc", ()))
        errors.append(
            {"path": _pointer(loc), "code": str(err.get("type", "invalid")), "message": err["msg"]}
        )
    names = ", ".join(e["path"] for e in errors[:5])
    return problem_response(
        422,
        "validation_error",
        f"The request is invalid at {names}",
        instance=request.url.path,
        errors=errors,
    )


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed", 401: "unauthenticated"}.get(
        exc.status_code, "http_error"
    )
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    return problem_response(
        exc.status_code, code, detail, instance=request.url.path, headers=exc.headers
    )


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    _log.error(
        "unhandled error on %s %s: %s",
        request.method,
        request.url.path,
        type(exc).__name__,
        exc_info=exc,
    )
    return problem_response(
        500, "internal_error", "An internal error occurred", instance=request.url.path
    )


def _unstorable_text(request: Request, exc: Exception) -> JSONResponse:
    # PostgreSQL refuses NUL characters in text and jsonb (found by schemathesis): the
    # request is at fault, whichever field carried it.
    return problem_response(
        422,
        "validation_error",
        "The request contains a character that cannot be stored (NUL)",
        instance=request.url.path,
        errors=[{"path": "/", "code": "invalid_character", "message": "NUL is not allowed"}],
    )


def install_error_handlers(app: FastAPI) -> None:
    """Route every error through problem+json."""
    for unstorable in (asyncpg.CharacterNotInRepertoireError, asyncpg.UntranslatableCharacterError):
        app.add_exception_handler(unstorable, _unstorable_text)
    app.add_exception_handler(RenumError, _renum_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
