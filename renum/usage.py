"""The usage ledger: one row per Suna agent run, priced with genai-prices.

Rows are keyed by the Suna run id (unique), so recording a run again — a
retry, a take-over — changes nothing. Cost is a ``Decimal`` from genai-prices
(never a hand-written table) with the price data version; a model it does not
know keeps its tokens with ``cost_usd = NULL`` and ``priced = false``, never a
silent zero (it is counted in ``renum_unpriced_runs_total``).

Every recorded row is also counted in the Prometheus counters (tokens, cost)
and added to the budget counters, so the four totals — Suna's, the ledger's,
Prometheus's and the reports' — agree.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import genai_prices

from renum import metrics
from renum.budgets import BudgetGuard
from renum.events import EVENTS_APPENDED, EventLog, append_events_sql, events_appended
from suna_client import RunUsage

__all__ = ["PRICE_DATA_VERSION", "Price", "UsageLedger", "price", "split_model"]

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
    """Price a run's usage; ``cost_usd`` is None when the model is unknown or absent."""
    provider, model = split_model(usage.model)
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


class UsageLedger:
    """Writes usage rows and announces them."""

    def __init__(self, pool: Any, events: EventLog, budgets: BudgetGuard | None = None) -> None:
        self._pool = pool
        self._events = events
        self._budgets = budgets

    async def record(
        self,
        suna_run_id: str,
        *,
        user_id: str,
        team_id: str | None,
        execution_id: str | None,
        step_id: str | None,
        attempt: int | None,
        agent_id: str | None,
        usage: RunUsage,
        user_key_services: frozenset[str] = frozenset(),
    ) -> bool:
        """Record a run's usage once; False when it was already recorded."""
        priced = price(usage)
        key_type = "user" if priced.provider in user_key_services else "platform"
        kinds: list[tuple[str, dict[str, Any]]] = []
        if execution_id is not None:
            kinds.append(("usage_recorded", {
                "step_id": step_id, "attempt": attempt, "suna_run_id": suna_run_id,
                "model": usage.model, "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens, "cached_tokens": usage.cached_tokens,
                "cost_usd": None if priced.cost_usd is None else str(priced.cost_usd),
                "priced": priced.cost_usd is not None}))  # fmt: skip
        row = await self._pool.fetchrow(
            f"""WITH u AS (
                  INSERT INTO usage_log (suna_run_id, user_id, team_id, execution_id, step_id,
                         attempt, agent_id, model, provider, api_key_type, input_tokens,
                         output_tokens, cached_tokens, cache_write_tokens, reasoning_tokens,
                         llm_calls, cost_usd, priced, price_version)
                  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
                          $16, $17, $18, $19)
                  ON CONFLICT (suna_run_id) DO NOTHING RETURNING created_at),
               {append_events_sql("$4::uuid", "$20", "$21", when="EXISTS (SELECT 1 FROM u)")}
               SELECT (SELECT created_at FROM u) AS inserted,
                      {EVENTS_APPENDED}""",
            suna_run_id, user_id, team_id, execution_id, step_id, attempt, agent_id,
            usage.model, priced.provider, key_type, usage.input_tokens, usage.output_tokens,
            usage.cached_tokens, usage.cache_creation_tokens, usage.reasoning_tokens,
            usage.llm_calls, priced.cost_usd, priced.cost_usd is not None,
            PRICE_DATA_VERSION, [k for k, _ in kinds], [d for _, d in kinds],
        )  # fmt: skip
        inserted = row["inserted"]
        if inserted is None:
            return False
        if execution_id is not None:
            await self._events.publish(events_appended(execution_id, kinds, row))
        metrics.observe_usage(priced.provider, priced.model or usage.model, {
            "input": usage.input_tokens, "output": usage.output_tokens,
            "cached": usage.cached_tokens, "cache_write": usage.cache_creation_tokens,
            "reasoning": usage.reasoning_tokens}, priced.cost_usd)  # fmt: skip
        if self._budgets is not None and priced.cost_usd:
            try:
                await self._budgets.add_spent(user_id=user_id, execution_id=execution_id,
                                              cost_usd=priced.cost_usd, at=inserted)  # fmt: skip
            except Exception as exc:  # the counter is rebuilt from usage_log when it is off
                _log.warning("could not add to the budget counters: %s", type(exc).__name__)
        if priced.cost_usd is None and usage.model:
            _log.info(
                "model %s is not priced by genai-prices; cost recorded as unknown", usage.model
            )
        return True
