"""What a failed Suna call means for a step, in words an operator can act on.

Every :class:`~suna_client.SunaError` carries a stable ``code`` and whether the
same call may succeed later (``retryable``). This module adds what the client
cannot know: whose credentials the call used and what to do about each kind of
refusal.
"""

from __future__ import annotations

from typing import Any

from renum.suna_accounts import Caller
from suna_client import SunaError, SunaQuotaExceededError, SunaRateLimitedError, SunaStatusError

__all__ = ["step_error"]

#: Longest message kept in a step's error.
MESSAGE_CHARS = 2000


_SERVICE_CREDENTIALS = ("check SUNA_API_KEY (an account API key pk_…:sk_…), or SUNA_JWT_SECRET "
                        "and SUNA_ACCOUNT_ID; `renum doctor` says which is wrong")  # fmt: skip
_USER_CREDENTIALS = "store a valid account API key (pk_…:sk_…) with PUT /v1/keys/suna"


def _hint(exc: SunaError, caller: Caller) -> str:
    """What to do about ``exc`` (empty: its own message says it all)."""
    account = ("your Suna account" if caller.kind == "user"
               else f"the service account {caller.account_id or '(SUNA_ACCOUNT_ID)'}")  # fmt: skip
    match exc.code:
        case "suna_unauthorized":
            fix = _USER_CREDENTIALS if caller.kind == "user" else _SERVICE_CREDENTIALS
            return f"Suna refused the credentials of {account}: {fix}"
        case "suna_unknown_agent":
            return (f"the step names an agent that {account} does not have: create it in "
                    "Suna, or name an existing agent (by its exact name or UUID)")  # fmt: skip
        case "suna_not_found":
            return (f"Suna does not know what the step named (its agent UUID, in {account}, "
                    "is the usual suspect)")  # fmt: skip
        case "suna_forbidden":
            return (f"Suna refused the step for {account}; a model the account's plan does "
                    "not allow is the usual cause: set the step's or the workflow's `model`, "
                    "or SUNA_DEFAULT_MODEL")  # fmt: skip
        case "suna_quota_exceeded":
            assert isinstance(exc, SunaQuotaExceededError)
            what = "projects" if exc.error_code == "PROJECT_LIMIT_EXCEEDED" else "threads"
            detail = exc.detail if isinstance(exc.detail, dict) else {}
            count = (f" ({detail.get('current_count')} of {detail.get('limit')})"
                     if "limit" in detail else "")  # fmt: skip
            return (f"{account} reached its Suna plan's limit on {what}{count}: delete old "
                    f"{what} in Suna or raise the plan (this is not a Renum budget)")
        case "suna_out_of_credit":
            return f"{account} is out of Suna credit: top it up in Suna's billing"
        case "suna_run_limit":
            assert isinstance(exc, SunaRateLimitedError)
            return (f"{account}'s limit on parallel runs ({exc.limit or '?'}) stayed reached "
                    "until the step's timeout")  # fmt: skip
        case "suna_unreachable" | "suna_timeout" | "suna_server_error" | "suna_protocol_error":
            return "Suna was unreachable or failing until the step's timeout"
        case "suna_flavour":
            return "set SUNA_API_FLAVOUR to the deployment's API, or check SUNA_BASE_URL"
    return ""


def step_error(exc: SunaError, caller: Caller) -> dict[str, Any]:
    """The ``error`` of a step whose attempt failed on ``exc``."""
    hint = _hint(exc, caller)
    message = f"{hint} ({exc})" if hint else str(exc)
    status = exc.status if isinstance(exc, SunaStatusError) else None
    return {"code": exc.code, "message": message[:MESSAGE_CHARS], "suna_status": status,
            "request_id": exc.request_id}  # fmt: skip
