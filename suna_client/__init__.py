"""Typed async client of the Suna agent API.

``SunaClient`` speaks the real Suna routes (quirks included), waits for runs
by streaming, retries only what is safe, guards each base URL with a circuit
breaker, and raises only :class:`SunaError` subclasses. Users' provider keys
travel only as ``X-API-Key-<service>`` headers and are redacted everywhere.
"""

from .auth import ApiKeyAuth, BearerAuth, JwtAuth, SunaAuth
from .breaker import BreakerState, CircuitBreaker
from .client import SunaClient
from .config import (
    DEFAULT_BREAKER,
    DEFAULT_POOL,
    DEFAULT_RETRY,
    DEFAULT_TIMEOUTS,
    BreakerConfig,
    PoolLimits,
    RetryPolicy,
    Timeouts,
)
from .errors import (
    SunaCircuitOpenError,
    SunaConnectionError,
    SunaError,
    SunaForbiddenError,
    SunaNotFoundError,
    SunaPaymentRequiredError,
    SunaProtocolError,
    SunaQuotaExceededError,
    SunaRateLimitedError,
    SunaServerError,
    SunaStatusError,
    SunaTimeoutError,
)
from .models import (
    TERMINAL_STATUSES,
    AgentRun,
    AgentStarted,
    AgentStartRequest,
    AnswerSource,
    InitiateRequest,
    InitiateResult,
    MessageRow,
    PingEvent,
    RunOutput,
    RunResult,
    RunStatusEvent,
    RunUsage,
    StopResult,
    StreamEvent,
    ThreadCreated,
    UsageRecord,
)
from .output import answer_from_messages, answer_of, output_from_messages, usage_from_messages
from .transport import OnRequest
from .waiting import OnEvent

__all__ = [
    "DEFAULT_BREAKER",
    "DEFAULT_POOL",
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUTS",
    "TERMINAL_STATUSES",
    "AgentRun",
    "AgentStartRequest",
    "AgentStarted",
    "AnswerSource",
    "ApiKeyAuth",
    "BearerAuth",
    "BreakerConfig",
    "BreakerState",
    "CircuitBreaker",
    "InitiateRequest",
    "InitiateResult",
    "JwtAuth",
    "MessageRow",
    "OnEvent",
    "OnRequest",
    "PingEvent",
    "PoolLimits",
    "RetryPolicy",
    "RunOutput",
    "RunResult",
    "RunStatusEvent",
    "RunUsage",
    "StopResult",
    "StreamEvent",
    "SunaAuth",
    "SunaCircuitOpenError",
    "SunaClient",
    "SunaConnectionError",
    "SunaError",
    "SunaForbiddenError",
    "SunaNotFoundError",
    "SunaPaymentRequiredError",
    "SunaProtocolError",
    "SunaQuotaExceededError",
    "SunaRateLimitedError",
    "SunaServerError",
    "SunaStatusError",
    "SunaTimeoutError",
    "ThreadCreated",
    "Timeouts",
    "UsageRecord",
    "answer_from_messages",
    "answer_of",
    "output_from_messages",
    "usage_from_messages",
]
