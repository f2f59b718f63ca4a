"""The client's public surface, pinned: a change here is an API change."""

from __future__ import annotations

import suna_client
import suna_client.errors


def test_suna_client_exports() -> None:
    assert suna_client.__all__ == [
        "DEFAULT_BREAKER",
        "DEFAULT_POOL",
        "DEFAULT_RETRY",
        "DEFAULT_TIMEOUTS",
        "FLAVOURS",
        "ROUTES",
        "TERMINAL_STATUSES",
        "Agent",
        "AgentPage",
        "AgentRun",
        "AgentStartRequest",
        "AgentStarted",
        "AnswerSource",
        "ApiKeyAuth",
        "BearerAuth",
        "BreakerConfig",
        "BreakerState",
        "CircuitBreaker",
        "Flavour",
        "FlavourSetting",
        "InitiateRequest",
        "InitiateResult",
        "JwtAuth",
        "MessageRow",
        "OnEvent",
        "OnRequest",
        "PingEvent",
        "PoolLimits",
        "RetryPolicy",
        "Routes",
        "RunOutput",
        "RunResult",
        "RunStatusEvent",
        "RunUsage",
        "StartRequest",
        "Started",
        "StopResult",
        "StreamEvent",
        "SunaAgentsDisabledError",
        "SunaAuth",
        "SunaCircuitOpenError",
        "SunaClient",
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
        "ThreadCreated",
        "Timeouts",
        "UsageRecord",
        "answer_from_messages",
        "answer_of",
        "output_from_messages",
        "probe",
        "usage_from_messages",
    ]
    for name in suna_client.__all__:
        assert getattr(suna_client, name) is not None


def test_error_tree() -> None:
    e = suna_client
    for cls in (e.SunaConnectionError, e.SunaTimeoutError, e.SunaProtocolError,
                e.SunaCircuitOpenError, e.SunaStatusError):
        assert cls.__bases__ == (e.SunaError,)
    for cls in (e.SunaNotFoundError, e.SunaForbiddenError, e.SunaPaymentRequiredError,
                e.SunaQuotaExceededError, e.SunaRateLimitedError, e.SunaServerError,
                e.SunaUnauthorizedError):
        assert cls.__bases__ == (e.SunaStatusError,)
    for name in suna_client.errors.__all__:
        obj = getattr(suna_client.errors, name)
        if isinstance(obj, type):
            assert issubclass(obj, e.SunaError)


def test_every_error_has_a_distinct_code_and_says_if_it_may_pass() -> None:
    classes = [getattr(suna_client.errors, n) for n in suna_client.errors.__all__]
    errors = [c for c in classes if isinstance(c, type) and issubclass(c, suna_client.SunaError)]
    codes = {c: c.code for c in errors}
    assert all(code.startswith("suna_") for code in codes.values())
    # one code per class, except the open breaker: to a caller, Suna is unreachable
    shared = {c for c in errors if c.code == "suna_unreachable"}
    assert shared == {suna_client.SunaConnectionError, suna_client.SunaCircuitOpenError}
    assert len(set(codes.values())) == len(errors) - 1
    retryable = {c.__name__ for c in errors if c.retryable}
    assert retryable == {"SunaConnectionError", "SunaTimeoutError", "SunaProtocolError",
                         "SunaCircuitOpenError", "SunaRateLimitedError", "SunaServerError"}
