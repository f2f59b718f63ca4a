"""The usage ledger: one row per Suna agent run, priced with genai-prices.

Rows are keyed by the Suna run id (unique), so recording a run again — a
retry, a take-over — changes nothing. Cost is a ``Decimal`` from genai-prices
(never a hand-written table) with the price data version; a model it does not
know keeps its tokens with ``cost_usd = NULL`` and ``priced = false``, never a
silent zero (it is counted in ``renum_unpriced_runs_total``); budgets count such
a run, tokens spent, at the ledger's estimate (``estimated_usd``, see
:mod:`renum.estimates`).

Every recorded row is also counted in the Prometheus counters (tokens, cost)
and added to the budget counters, so the four totals — Suna's, the ledger's,
Prometheus's and the reports' — agree.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

import genai_prices

from renum import metrics
from renum.events import (
    EVENTS_APPENDED,
    Event,
    EventLog,
    RedisWrite,
    append_events_sql,
    events_appended,
)
from suna_client import RunUsage

if TYPE_CHECKING:  # (renum.budgets imports this module, through renum.estimates)
    from renum.budgets import BudgetGuard

__all__ = [
    "PRICE_DATA_VERSION",
    "Price",
    "UsageLedger",
    "UsageRow",
    "price",
    "split_model",
    "usage_insert_sql",
]

_log = logging.getLogger("renum.usage")

#: The genai-prices release whose price data priced a row.
PRICE_DATA_VERSION = f"genai-prices {genai_prices.__version__}"


@dataclass(frozen=True)
class Price:
    """A priced (or unpriceable) usage."""

    provider: str | None
    model: str | None
    cost_usd: Decimal | None


def split_model(name: str | None) -> tuple[str | None, str | None]:
    """``openai/gpt-5-mini`` → (``openai``, ``gpt-5-mini``); a bare name has no provider."""
    if not name:
        return None, None
    provider, sep, model = name.partition("/")
    if not sep:
        return None, name
    return provider.lower(), model


def price(usage: RunUsage) -> Price:
    """Price a run's usage; ``cost_usd`` is None when the model is unknown or absent.

    Suna records the provider's own name for the model (``claude-sonnet-4``, not
    ``anthropic/claude-sonnet-4``): the provider is then the requested model's,
    when that names the same model, else the one genai-prices finds for the name.
    """
    provider, model = split_model(usage.model)
    if provider is None and model is not None and usage.requested_model:
        asked_provider, asked = split_model(usage.requested_model)
        if asked is not None and asked.rpartition("/")[2] == model:
            provider = asked_provider
    if model is None:
        return Price(
            provider, None, None if usage.total_tokens or usage.input_tokens else Decimal(0)
        )
    try:
        calc = genai_prices.calc_price(
            genai_prices.Usage(
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cache_read_tokens=usage.cached_tokens or None,
                cache_write_tokens=usage.cache_creation_tokens or None,
            ),
            model,
            provider_id=provider,
        )
    except LookupError:
        return Price(provider, model, None)
    return Price(provider or calc.provider.id, model, Decimal(calc.total_price))


_COLUMNS = ("suna_run_id, user_id, team_id, execution_id, step_id, attempt, agent_id, model, "
            "provider, api_key_type, suna_account, input_tokens, output_tokens, cached_tokens, "
            "cache_write_tokens, reasoning_tokens, llm_calls, cost_usd, priced, price_version, "
            "estimated_usd")  # fmt: skip


def usage_insert_sql(row: str, *, when: str = "true") -> str:
    """The ``u`` CTE: insert the usage row in ``row`` (a jsonb expression, see UsageRow).

    ``RETURNING created_at`` gives nothing when the run was already recorded (or
    ``when``, an SQL condition, is false), so the statement can make what follows
    (an event) conditional on ``u``.
    """
    return f"""u AS (
          INSERT INTO usage_log ({_COLUMNS})
          SELECT {_COLUMNS} FROM jsonb_populate_record(NULL::usage_log, {row}::jsonb)
           WHERE {when}
          ON CONFLICT (suna_run_id) DO NOTHING RETURNING created_at)"""


@dataclass(frozen=True)
class UsageRow:
    """One run's usage, priced and ready to insert (by the ledger or inside another statement)."""

    row: dict[str, Any]
    """The ``usage_log`` columns, JSON-ready (the cost as a decimal string)."""
    event: dict[str, Any] | None
    """The ``usage_recorded`` event's data (None outside an execution)."""
    usage: RunUsage
    priced: Price
    estimated_usd: Decimal | None = None
    """What budgets count for an unpriced run that spent tokens (None: priced, or none)."""

    @property
    def counted_usd(self) -> Decimal | None:
        """What the run counts against budgets: its cost, else its estimate."""
        return self.priced.cost_usd if self.priced.cost_usd is not None else self.estimated_usd

    @classmethod
    def of(
        cls, suna_run_id: str, *, user_id: str, team_id: str | None, execution_id: str | None,
        step_id: str | None, attempt: int | None, agent_id: str | None, usage: RunUsage,
        forwarded: frozenset[str] = frozenset(),
        suna_account: Literal["service", "user"] = "service",
        unpriced_usd: Decimal | None = None,
    ) -> UsageRow:  # fmt: skip
        """Price ``usage`` and say whose key paid: ``user_suna_account`` when the run went
        through the user's own Suna account (``suna_account="user"``: Suna billed them),
        ``forwarded`` when the start carried the user's key for the run's provider
        (``forwarded``: those services), else ``platform`` (Suna's own keys).

        A run genai-prices cannot price that spent tokens is counted against budgets
        at ``unpriced_usd`` (:attr:`UsageLedger.unpriced_usd`)."""
        priced = price(usage)
        cost = None if priced.cost_usd is None else str(priced.cost_usd)
        spent_tokens = usage.total_tokens or usage.input_tokens or usage.output_tokens
        estimated = unpriced_usd if cost is None and spent_tokens else None
        row = {
            "suna_run_id": suna_run_id, "user_id": user_id, "team_id": team_id,
            "execution_id": execution_id, "step_id": step_id, "attempt": attempt,
            "agent_id": agent_id, "model": usage.model, "provider": priced.provider,
            "api_key_type": "user_suna_account" if suna_account == "user"
            else "forwarded" if priced.provider in forwarded else "platform",
            "suna_account": suna_account,
            "input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens,
            "cached_tokens": usage.cached_tokens,
            "cache_write_tokens": usage.cache_creation_tokens,
            "reasoning_tokens": usage.reasoning_tokens, "llm_calls": usage.llm_calls,
            "cost_usd": cost, "priced": cost is not None, "price_version": PRICE_DATA_VERSION,
            "estimated_usd": None if estimated is None else str(estimated),
        }  # fmt: skip
        event = None if execution_id is None else {
            "step_id": step_id, "attempt": attempt, "suna_run_id": suna_run_id,
            "model": usage.model, "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens, "cached_tokens": usage.cached_tokens,
            "cost_usd": cost, "priced": cost is not None,
            "estimated_usd": row["estimated_usd"]}  # fmt: skip
        return cls(row, event, usage, priced, estimated)


class UsageLedger:
    """Writes usage rows and announces them."""

    def __init__(
        self, pool: Any, events: EventLog, budgets: BudgetGuard | None = None, *,
        unpriced_usd: Decimal | None = None,
    ) -> None:  # fmt: skip
        self._pool = pool
        self._events = events
        self._budgets = budgets
        self.unpriced_usd = unpriced_usd
        """What a run genai-prices cannot price counts against budgets (None: nothing):
        RENUM_UNPRICED_STEP_ESTIMATE_USD, else RENUM_STEP_COST_ESTIMATE_USD."""

    async def record(self, suna_run_id: str, **fields: Any) -> bool:
        """Record a run's usage once; False when it was already recorded.

        ``fields`` are :meth:`UsageRow.of`'s keyword arguments.
        """
        fields.setdefault("unpriced_usd", self.unpriced_usd)
        return await self.record_row(UsageRow.of(suna_run_id, **fields))

    async def record_row(self, usage: UsageRow) -> bool:
        """Record a priced row once; False when its run was already recorded."""
        kinds = [] if usage.event is None else [("usage_recorded", usage.event)]
        row = await self._pool.fetchrow(
            f"""WITH {usage_insert_sql("$1")},
               {append_events_sql("$2::uuid", "$3", "$4", when="EXISTS (SELECT 1 FROM u)")}
               SELECT (SELECT created_at FROM u) AS inserted, {EVENTS_APPENDED}""",
            usage.row, usage.row["execution_id"], [k for k, _ in kinds], [d for _, d in kinds],
        )  # fmt: skip
        if row["inserted"] is None:
            return False
        await self.recorded(usage, row["inserted"], events_appended(
            usage.row["execution_id"], kinds, row) if kinds else [])  # fmt: skip
        return True

    async def recorded(
        self, usage: UsageRow, at: datetime, events: list[Event], *writes: RedisWrite | None
    ) -> None:
        """What follows a new row's commit: its events (with ``writes``, in one pipeline), the
        budget counters (in it too) and the metrics."""
        priced, tokens = usage.priced, usage.usage
        spent, counted = None, usage.counted_usd
        if self._budgets is not None and counted:
            spent = self._budgets.spent(user_id=usage.row["user_id"],
                                        execution_id=usage.row["execution_id"],
                                        cost_usd=counted, at=at)  # fmt: skip
        await self._events.publish(events, *writes, spent)
        metrics.observe_usage(priced.provider, priced.model or tokens.model, {
            "input": tokens.input_tokens, "output": tokens.output_tokens,
            "cached": tokens.cached_tokens, "cache_write": tokens.cache_creation_tokens,
            "reasoning": tokens.reasoning_tokens}, priced.cost_usd)  # fmt: skip
        if priced.cost_usd is None and tokens.model:
            _log.info("model %s is not priced by genai-prices; cost recorded as unknown, "
                      "budgets count %s USD", tokens.model, usage.estimated_usd or 0)  # fmt: skip
