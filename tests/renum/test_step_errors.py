"""Which Suna refusals a step's retry policy may try again."""

from __future__ import annotations

import json

from suna_client.errors import SunaStatusError, status_error


def _error(status: int, detail: object) -> SunaStatusError:
    body = json.dumps({"detail": detail}).encode()
    return status_error(status, body, retry_after=None, method="POST", route="POST /v1/threads",
                        request_id=None)  # fmt: skip


def test_a_plan_quota_and_no_credit_are_not_retried_a_run_limit_is() -> None:
    quota = _error(402, {"message": "Maximum of 10 threads allowed.",
                         "error_code": "THREAD_LIMIT_EXCEEDED"})  # fmt: skip
    assert not quota.retryable
    assert not _error(402, {"message": "Monthly limit reached."}).retryable
    limit = _error(402, {"message": "busy", "error_code": "AGENT_RUN_LIMIT_EXCEEDED"})
    assert limit.retryable


def test_a_bad_request_is_not_retried_an_outage_is() -> None:
    assert not _error(400, "prompt is required for optimistic mode").retryable
    assert not _error(422, [{"loc": ["body", "model_name"], "msg": "bad"}]).retryable
    assert _error(503, "Service Unavailable").retryable
    assert _error(500, "Internal Server Error").retryable
