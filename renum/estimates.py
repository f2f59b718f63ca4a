"""What a step is expected to cost: the amount a budget holds for it before it starts.

The estimate follows the model the step will run, not the models its agent ran
before. An agent's recent runs say how much work it does (their tokens); their
cost on another model says nothing about this one. So :meth:`StepEstimator.estimate`
reads the agent's :data:`WINDOW_RUNS` latest runs for the user, prices each run's
tokens again at the step's model with genai-prices, and holds the largest. A
prompt longer than the one a past run had adds its extra tokens
(:data:`CHARS_PER_TOKEN` characters a token) to that run's input once per LLM
call, since every call of an agent's loop reads the prompt again. An agent with
no run yet holds ``default_usd``, or what the prompt alone costs at the model's
input price when that is more.

A step that names no model (and no ``SUNA_DEFAULT_MODEL`` is set) runs on the
agent's own default — for a user's own Suna account, one Renum cannot look up.
The model of the agent's latest run stands for it (a run Suna named no model
for: the largest cost its runs were counted at); with no run yet, ``default_usd``.

A model genai-prices cannot price has no cost to hold: under a budget such a
step is refused (:class:`ModelUnpricedError`, code ``model_unpriced``) unless
``unpriced_usd`` (``RENUM_UNPRICED_STEP_ESTIMATE_USD``) is set, which is then
both its hold and what its run counts against budgets (``usage_log.estimated_usd``).
"""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Any, Final

import genai_prices

from renum.usage import split_model

__all__ = ["CHARS_PER_TOKEN", "MODEL_UNPRICED", "WINDOW_RUNS", "ModelUnpricedError",
           "StepEstimator"]  # fmt: skip

#: Recent runs of an agent whose tokens, priced at the step's model, give the estimate.
WINDOW_RUNS: Final = 20
#: Characters of a prompt taken for one token (a generous average for English text).
CHARS_PER_TOKEN: Final = 4
#: The step error of a step refused because its model has no price.
MODEL_UNPRICED: Final = "model_unpriced"
#: The setting that lets steps on unpriced models run under a budget.
UNPRICED_SETTING: Final = "RENUM_UNPRICED_STEP_ESTIMATE_USD"

_RECENT_RUNS = """
    SELECT u.model, u.provider, u.input_tokens, u.output_tokens, u.cached_tokens,
           u.cache_write_tokens, u.llm_calls, coalesce(u.cost_usd, u.estimated_usd) AS cost_usd,
           length(s.prompt) AS prompt_chars
      FROM usage_log u
      LEFT JOIN step_runs s
             ON s.execution_id = u.execution_id AND s.step_id = u.step_id
            AND s.attempt = u.attempt
     WHERE u.user_id = $1 AND u.agent_id = $2
     ORDER BY u.created_at DESC LIMIT $3"""


class ModelUnpricedError(Exception):
    """The step's model has no price, and no estimate is configured for such steps."""

    def __init__(self, model: str, *, named: bool) -> None:
        which = f"the model {model}"
        if not named:
            which += " (the agent's own default, as its latest run used)"
        super().__init__(
            f"genai-prices has no price for {which}, so the budget that applies cannot hold "
            f"this step's cost and the step was not started: name a priced model for the "
            f"step (its `model`, the workflow's, or SUNA_DEFAULT_MODEL), or set "
            f"{UNPRICED_SETTING} to the cost to hold and count for each run of a model "
            f"without a price"
        )  # fmt: skip
        self.model = model

    def to_json(self) -> dict[str, Any]:
        """The refused step's error."""
        return {"code": MODEL_UNPRICED, "message": str(self), "model": self.model,
                "setting": UNPRICED_SETTING}  # fmt: skip


@functools.lru_cache(maxsize=4096)
def _cost(
    provider: str | None, model: str, input_tokens: int, output_tokens: int, cached: int,
    cache_write: int,
) -> Decimal | None:  # fmt: skip
    """genai-prices' cost of these tokens on ``model``; None when it has no price for it."""
    try:
        calc = genai_prices.calc_price(
            genai_prices.Usage(input_tokens=input_tokens, output_tokens=output_tokens,
                               cache_read_tokens=cached or None,
                               cache_write_tokens=cache_write or None),
            model, provider_id=provider)  # fmt: skip
    except LookupError:
        return None
    return Decimal(calc.total_price)


def _tokens(chars: int | None) -> int:
    return -(-(chars or 0) // CHARS_PER_TOKEN)


class StepEstimator:
    """Estimates a step's cost on its model from the agent's recent runs (see the module)."""

    def __init__(
        self, pool: Any, *, default_usd: Decimal, unpriced_usd: Decimal | None = None
    ) -> None:
        self._pool = pool
        self._default = default_usd
        self._unpriced = unpriced_usd

    async def estimate(
        self, *, user_id: str, agent_id: str, model: str | None, prompt_chars: int
    ) -> Decimal:
        """The cost to hold for a step of ``agent_id`` on ``model`` (None: the agent's own
        default) with a prompt of ``prompt_chars`` characters.

        Raises :class:`ModelUnpricedError` when the model has no price and no
        ``unpriced_usd`` is configured.
        """
        runs = await self._pool.fetch(_RECENT_RUNS, user_id, agent_id, WINDOW_RUNS)
        named = model is not None
        if model is not None:
            provider, name = split_model(model)
        elif runs and runs[0]["model"]:
            provider, name = runs[0]["provider"], runs[0]["model"]
        else:  # Suna named no model: the costs the runs were counted at, if any
            counted = [r["cost_usd"] for r in runs if r["cost_usd"] is not None]
            return max(counted) if counted else self._default
        assert name is not None
        prompt = _tokens(prompt_chars)
        if _cost(provider, name, prompt, 0, 0, 0) is None:
            if self._unpriced is None:
                raise ModelUnpricedError(model or name, named=named)
            return self._unpriced
        if not runs:
            return max(self._default, _cost(provider, name, prompt, 0, 0, 0) or Decimal(0))
        costs = (
            _cost(provider, name,
                  r["input_tokens"] + max(1, r["llm_calls"])
                  * max(0, prompt - _tokens(r["prompt_chars"])),
                  r["output_tokens"], r["cached_tokens"], r["cache_write_tokens"])
            for r in runs)  # fmt: skip
        return max(c or Decimal(0) for c in costs)
