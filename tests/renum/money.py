"""Helpers of the money tests: Prometheus samples read over HTTP, independent prices."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import genai_prices
from prometheus_client.parser import text_string_to_metric_families

from suna_sim.stats import UsageTotals
from tests.conftest import ApiClient

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(api: ApiClient) -> Samples:
    """Every sample of ``GET /metrics``: (name, sorted labels) → value."""
    async with api.http.get(api.url("/metrics")) as resp:
        assert resp.status == 200, await resp.text()
        text = await resp.text()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum of ``name``'s samples whose labels include ``labels``."""
    return sum(v for (n, ls), v in samples.items()
               if n == name and labels.items() <= dict(ls).items())  # fmt: skip


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    """How much ``name`` (restricted to ``labels``) grew between two scrapes."""
    return total(after, name, **labels) - total(before, name, **labels)


def independent_cost(usage_by_model: Mapping[str, UsageTotals]) -> Decimal:
    """What genai-prices says the simulator's usage costs, priced model by model here."""
    cost = Decimal(0)
    for name, u in usage_by_model.items():
        provider, _, model = name.partition("/")
        try:
            price = genai_prices.calc_price(
                genai_prices.Usage(input_tokens=u.input_tokens, output_tokens=u.output_tokens,
                                   cache_read_tokens=u.cached_tokens,
                                   cache_write_tokens=u.cache_creation_tokens),
                model, provider_id=provider)  # fmt: skip
        except LookupError:
            continue
        cost += Decimal(price.total_price)
    return cost
