"""Budgets: per execution and per user per calendar month, reserved atomically in Redis.

Before a step attempt starts, :meth:`BudgetGuard.reserve` runs one Lua script
over every budget that applies: a step may start only while ``spent + held <
limit`` in each, and then holds an *estimate* of its cost on the model it will
run (:mod:`renum.estimates`: the agent's recent runs priced at that model, grown
by the prompt's size; a model without a price is refused unless an estimate is
configured for it). The ledger adds each run's actual cost to ``spent``
(:meth:`BudgetGuard.spent`; an unpriced run's configured estimate) and the hold is
released when the attempt ends; holds expire on their own after the step's
timeout, so a crashed worker leaks nothing for long. Concurrent steps
therefore overshoot a budget by at most one step's cost (when the estimate is
at least the cost).

Counters are micro-dollars (integers, rounded up). PostgreSQL is the truth:
a counter Redis lost is rebuilt from ``usage_log``, and counters expire after
``counter_ttl_s`` so they are rebuilt now and then anyway.

A worker keeps each user's monthly limit for :data:`LIMIT_CACHE_S` seconds
rather than reading it before every step; the budget API announces a change on
:data:`~renum.redis_keys.BUDGETS_CHANNEL` and every worker forgets that user's
limit at once (:meth:`BudgetGuard.forget`), so the cache only matters when
that notice is lost.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_CEILING, Decimal
from typing import Any, Literal

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, RedisError

from renum.errors import PaymentRequiredError
from renum.estimates import StepEstimator
from renum.redis_keys import BUDGETS_CHANNEL, budget_holds_key, budget_spent_key

__all__ = [
    "DEFAULT_STEP_ESTIMATE_USD",
    "LIMIT_CACHE_S",
    "BudgetExceededError",
    "BudgetGuard",
    "Hold",
    "SpentCount",
    "announce_budget_change",
    "month_bounds",
    "month_spent",
    "require_user_budget_left",
    "user_monthly_budget",
]

#: Estimate held for a step whose agent has no recent run.
DEFAULT_STEP_ESTIMATE_USD = Decimal("0.05")
_MICRO = Decimal(1_000_000)
#: How long a worker trusts a user's monthly limit it read (a change notice clears it sooner).
LIMIT_CACHE_S = 10.0

BudgetScope = Literal["execution", "user_monthly"]

_RESERVE = """
local n = #KEYS / 2
local now = tonumber(ARGV[1])
for i = 1, n do
  if redis.call('EXISTS', KEYS[2 * i - 1]) == 0 then return {-1, i, 0, 0} end
end
for i = 1, n do
  local held = 0
  local holds = redis.call('HGETALL', KEYS[2 * i])
  for j = 1, #holds, 2 do
    local amount, expires = string.match(holds[j + 1], '^(%d+):(%d+)$')
    if tonumber(expires) <= now then
      redis.call('HDEL', KEYS[2 * i], holds[j])
    elseif holds[j] ~= ARGV[6] then
      held = held + tonumber(amount)
    end
  end
  local spent = tonumber(redis.call('GET', KEYS[2 * i - 1])) + tonumber(ARGV[5])
  if spent + held >= tonumber(ARGV[6 + i]) then return {0, i, spent, held} end
end
local ttl = tonumber(ARGV[4]) - now
for i = 1, n do
  redis.call('HSET', KEYS[2 * i], ARGV[2], ARGV[3] .. ':' .. ARGV[4])
  if redis.call('PTTL', KEYS[2 * i]) < ttl then redis.call('PEXPIRE', KEYS[2 * i], ttl) end
end
return {1, 0, 0, 0}
"""

_ADD_IF_PRESENT = """
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then redis.call('INCRBY', key, ARGV[1]) end
end
return 1
"""


_log = logging.getLogger("renum.budgets")


async def announce_budget_change(redis: aioredis.Redis, user_id: str) -> None:
    """Tell every worker a user's monthly budget changed (after the change is committed)."""
    try:
        await redis.publish(BUDGETS_CHANNEL, user_id)
    except RedisError as exc:  # workers read it again within LIMIT_CACHE_S anyway
        _log.warning("could not announce a budget change: %s", type(exc).__name__)


def _micro(usd: Decimal) -> int:
    return int((usd * _MICRO).to_integral_value(rounding=ROUND_CEILING))


def month_bounds(at: datetime | None = None) -> tuple[datetime, datetime]:
    """The UTC calendar month holding ``at`` (default now): [start, next month's start)."""
    at = (at or datetime.now(UTC)).astimezone(UTC)
    start = at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    nxt = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(
        month=start.month + 1)  # fmt: skip
    return start, nxt


def _user_scope(user_id: str, at: datetime | None = None) -> str:
    return f"user:{user_id}:{month_bounds(at)[0]:%Y-%m}"


async def user_monthly_budget(pool: Any, user_id: str) -> Decimal | None:
    """The user's monthly budget in USD, or None when none is set."""
    value: Decimal | None = await pool.fetchval(
        "SELECT monthly_usd FROM user_budgets WHERE user_id = $1", user_id
    )
    return value


async def month_spent(pool: Any, user_id: str, at: datetime | None = None) -> Decimal:
    """What the user's runs cost in the calendar month of ``at`` (from the ledger): priced
    runs at their cost, unpriced ones at the estimate they were counted at."""
    start, end = month_bounds(at)
    value: Decimal = await pool.fetchval(
        """SELECT coalesce(sum(coalesce(cost_usd, estimated_usd)), 0) FROM usage_log
            WHERE user_id = $1 AND created_at >= $2 AND created_at < $3""",
        user_id, start, end,
    )  # fmt: skip
    return value


async def require_user_budget_left(pool: Any, user_id: str) -> None:
    """Raise 402 (:class:`PaymentRequiredError`) when the user's monthly budget is spent."""
    limit = await user_monthly_budget(pool, user_id)
    if limit is None:
        return
    spent = await month_spent(pool, user_id)
    if spent >= limit:
        start = month_bounds()[0]
        raise PaymentRequiredError(
            f"the monthly budget of {limit} USD for {start:%Y-%m} is spent ({spent} USD)",
            errors=[{"path": "/budget", "code": "user_monthly_budget_exhausted",
                     "message": "ask an administrator to raise the budget, or wait for "
                                "the next month", "limit_usd": str(limit),
                     "spent_usd": str(spent)}],
        )  # fmt: skip


@dataclass(frozen=True)
class Hold:
    """A reservation to release when the attempt ends."""

    id: str
    holds_keys: tuple[str, ...]


class BudgetExceededError(Exception):
    """A budget has no room left: the step must not start."""

    def __init__(self, scope: BudgetScope, limit_usd: Decimal, spent_usd: Decimal) -> None:
        super().__init__(f"the {scope.replace('_', ' ')} budget of {limit_usd} USD is spent")
        self.scope = scope
        self.limit_usd = limit_usd
        self.spent_usd = spent_usd

    def to_json(self) -> dict[str, Any]:
        """The ``budget_exceeded`` event's and the execution error's details."""
        return {"code": "budget_exceeded", "message": str(self), "budget": self.scope,
                "limit_usd": str(self.limit_usd), "spent_usd": str(self.spent_usd)}  # fmt: skip


@dataclass(frozen=True)
class SpentCount:
    """A recorded run's cost, to add to the budget counters Redis holds (missing ones are
    left to be rebuilt), sent in the pipeline of the run's events."""

    script: AsyncScript
    keys: tuple[str, ...]
    micro: int

    def queue(self, pipe: Any) -> None:
        """By the script's hash: a pipeline would otherwise check for it first."""
        pipe.evalsha(self.script.sha, len(self.keys), *self.keys, self.micro)

    async def settle(self, results: list[Any]) -> None:
        """Redis lost its scripts (a restart): the script call loads it and adds."""
        if isinstance(results[0], NoScriptError):
            await self.script(keys=list(self.keys), args=[self.micro])
        elif isinstance(results[0], Exception):
            _log.warning("could not add to the budget counters: %s", type(results[0]).__name__)


class BudgetGuard:
    """Reserves, releases and counts spend against budgets (shared by a worker's drivers)."""

    def __init__(
        self, pool: Any, redis: aioredis.Redis, *,
        default_estimate_usd: Decimal = DEFAULT_STEP_ESTIMATE_USD, counter_ttl_s: int = 3600,
        unpriced_estimate_usd: Decimal | None = None,
    ) -> None:  # fmt: skip
        self._pool = pool
        self._redis = redis
        self._estimator = StepEstimator(pool, default_usd=default_estimate_usd,
                                        unpriced_usd=unpriced_estimate_usd)  # fmt: skip
        self._counter_ttl_s = counter_ttl_s
        self._reserve = redis.register_script(_RESERVE)
        self._add = redis.register_script(_ADD_IF_PRESENT)
        self._limits: dict[str, tuple[float, Decimal | None]] = {}  # user → (until, limit)
        self._forgotten = 0  # bumped by forget(): a read that raced with it is not kept

    def forget(self, user_id: str) -> None:
        """The user's monthly budget changed: read it again before the next step."""
        self._limits.pop(user_id, None)
        self._forgotten += 1

    async def _monthly_limit(self, user_id: str) -> Decimal | None:
        now = time.monotonic()
        cached = self._limits.get(user_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        forgotten = self._forgotten
        limit = await user_monthly_budget(self._pool, user_id)
        if forgotten == self._forgotten:
            if len(self._limits) >= 10_000:  # many users: drop what expired
                self._limits = {u: c for u, c in self._limits.items() if c[0] > now}
            self._limits[user_id] = (now + LIMIT_CACHE_S, limit)
        return limit

    async def reserve(
        self, *, execution_id: str, execution_budget_usd: Decimal | None, user_id: str,
        agent_id: str, model: str | None, prompt_chars: int, hold_ttl_s: float,
        spent_usd: Decimal | None = None, replacing: Hold | None = None,
    ) -> Hold | None:  # fmt: skip
        """Hold an estimate in every budget that applies; None when none does.

        The estimate is the step's cost on ``model`` (None: the agent's own default)
        with a prompt of ``prompt_chars`` characters (see :mod:`renum.estimates`).
        Raises :class:`BudgetExceededError` naming the first budget with no room, and
        :class:`~renum.estimates.ModelUnpricedError` when the model has no price.
        ``spent_usd`` is a cost not yet in the counters, ``replacing`` the hold that
        stood for it (left out): a step reserved with the outcome of the one before
        it, before that outcome's cost is counted, sees what it would see after.
        """
        scopes: list[tuple[BudgetScope, str, Decimal]] = []
        if execution_budget_usd is not None:
            scopes.append(("execution", f"execution:{execution_id}", execution_budget_usd))
        monthly = await self._monthly_limit(user_id)
        if monthly is not None:
            scopes.append(("user_monthly", _user_scope(user_id), monthly))
        if not scopes:
            return None
        estimate = _micro(await self._estimator.estimate(
            user_id=user_id, agent_id=agent_id, model=model,
            prompt_chars=prompt_chars))  # fmt: skip
        hold = Hold(uuid.uuid4().hex, tuple(budget_holds_key(s[1]) for s in scopes))
        keys = [k for _, scope, _ in scopes
                for k in (budget_spent_key(scope), budget_holds_key(scope))]  # fmt: skip
        for _ in range(3):
            now_ms = int(time.time() * 1000)
            args: list[str | int] = [now_ms, hold.id, estimate, now_ms + int(hold_ttl_s * 1000),
                    _micro(spent_usd or Decimal(0)), replacing.id if replacing else "",
                    *(_micro(limit) for _, _, limit in scopes)]  # fmt: skip
            verdict, index, spent, _held = await self._reserve(keys=keys, args=args)
            if verdict == 1:
                return hold
            kind, scope, limit = scopes[int(index) - 1]
            if verdict == 0:
                raise BudgetExceededError(kind, limit, Decimal(int(spent)) / _MICRO)
            await self._rebuild(kind, scope, execution_id, user_id)
        raise RuntimeError("budget counters could not be rebuilt")  # pragma: no cover

    async def release(self, hold: Hold | None) -> None:
        """Drop a reservation (its actual cost is already in ``spent``)."""
        if hold is None:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in hold.holds_keys:
                pipe.hdel(key, hold.id)
            await pipe.execute()

    def spent(
        self, *, user_id: str, execution_id: str | None, cost_usd: Decimal, at: datetime
    ) -> SpentCount:
        """A recorded run's cost, to add to the counters Redis holds with the run's events
        (``EventLog.publish``); missing counters are rebuilt by the next reservation."""
        keys = [budget_spent_key(_user_scope(user_id, at))]
        if execution_id is not None:
            keys.append(budget_spent_key(f"execution:{execution_id}"))
        return SpentCount(self._add, tuple(keys), _micro(cost_usd))

    async def _rebuild(
        self, kind: BudgetScope, scope: str, execution_id: str, user_id: str
    ) -> None:
        """Set a missing counter from the ledger (``SET NX``: a concurrent rebuild wins once)."""
        if kind == "execution":
            spent: Decimal = await self._pool.fetchval(
                """SELECT coalesce(sum(coalesce(cost_usd, estimated_usd)), 0) FROM usage_log
                    WHERE execution_id = $1""",
                execution_id,
            )
        else:
            spent = await month_spent(self._pool, user_id)
        await self._redis.set(budget_spent_key(scope), _micro(spent), nx=True,
                              ex=self._counter_ttl_s)  # fmt: skip
