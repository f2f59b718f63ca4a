"""Usage reports from the ledger: grouped rows and totals, as JSON or CSV.

Shared by ``GET /v1/usage`` and ``renum billing report``. Costs are summed by
PostgreSQL as NUMERIC and carried as ``Decimal``; the totals are the sum of
the rows, so they agree to the last digit (never a float in between). An
unpriced run adds its tokens and counts in ``unpriced_runs``, never a zero
cost in disguise.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from renum.budgets import month_bounds

__all__ = ["GROUP_BY", "GroupBy", "UsageReport", "UsageRow", "parse_period", "usage_report"]

GroupBy = Literal["day", "team", "agent", "model", "execution", "user"]
#: SQL of each grouping key (fixed strings: never built from input).
GROUP_BY: dict[str, str] = {
    "day": "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    "team": "team_id::text",
    "agent": "agent_id",
    "model": "model",
    "execution": "execution_id::text",
    "user": "user_id",
}


@dataclass(frozen=True)
class UsageRow:
    """One group's usage (or the totals, with ``key`` None)."""

    key: str | None
    runs: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    cost_usd: Decimal
    unpriced_runs: int

    def to_json(self) -> dict[str, Any]:
        """Counts as numbers, the cost as a string (exact)."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["cost_usd"] = str(self.cost_usd)
        return data


_COUNTS = ("runs", "input_tokens", "output_tokens", "cached_tokens", "cache_write_tokens",
           "reasoning_tokens", "unpriced_runs")  # fmt: skip


@dataclass(frozen=True)
class UsageReport:
    """A period's usage, grouped; ``totals`` is the sum of ``rows``."""

    group_by: str
    start: datetime
    end: datetime
    user_id: str | None
    rows: list[UsageRow]

    @property
    def totals(self) -> UsageRow:
        """The sum of the rows."""
        sums = {name: sum(getattr(r, name) for r in self.rows) for name in _COUNTS}
        cost = sum((r.cost_usd for r in self.rows), Decimal(0))
        return UsageRow(key=None, cost_usd=cost, **sums)

    def to_json(self) -> dict[str, Any]:
        """The JSON document of ``GET /v1/usage``."""
        return {
            "from": self.start.isoformat(), "to": self.end.isoformat(),
            "group_by": self.group_by, "user_id": self.user_id, "currency": "USD",
            "rows": [r.to_json() for r in self.rows],
            "totals": {k: v for k, v in self.totals.to_json().items() if k != "key"},
        }  # fmt: skip

    def to_csv(self) -> str:
        """A header, one line per row, and a last ``TOTAL`` line."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([self.group_by, *_COUNTS[:-1], "cost_usd", "unpriced_runs"])
        lines = [(r.key or "", r) for r in self.rows] + [("TOTAL", self.totals)]
        for key, row in lines:
            writer.writerow([_cell(key), *(getattr(row, n) for n in _COUNTS[:-1]),
                             row.cost_usd, row.unpriced_runs])  # fmt: skip
        return out.getvalue()


#: What a spreadsheet takes for the start of a formula in a cell.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(text: str) -> str:
    """A text cell a spreadsheet shows as text: one that would start a formula (a team,
    agent or model name is user or Suna data) gets a leading apostrophe (OWASP)."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _instant(text: str, *, end: bool) -> datetime:
    """A date (whole day: ``end`` takes the next midnight) or an ISO datetime (UTC if naive)."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return start + timedelta(days=1) if end else start
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is neither a date (YYYY-MM-DD) nor an ISO datetime") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def parse_period(start: str | None, end: str | None) -> tuple[datetime, datetime]:
    """[start, end): dates are whole days (``to`` included); defaults: this month so far."""
    lower = _instant(start, end=False) if start else month_bounds()[0]
    upper = _instant(end, end=True) if end else datetime.now(UTC)
    if upper <= lower:
        raise ValueError("`to` must be after `from`")
    return lower, upper


async def usage_report(
    pool: Any, *, start: datetime, end: datetime, group_by: str, user_id: str | None
) -> UsageReport:
    """Usage in [start, end) grouped by ``group_by``, for one user or (None) everyone."""
    key = GROUP_BY[group_by]
    rows = await pool.fetch(
        f"""SELECT {key} AS key, count(*) AS runs,
                   coalesce(sum(input_tokens), 0) AS input_tokens,
                   coalesce(sum(output_tokens), 0) AS output_tokens,
                   coalesce(sum(cached_tokens), 0) AS cached_tokens,
                   coalesce(sum(cache_write_tokens), 0) AS cache_write_tokens,
                   coalesce(sum(reasoning_tokens), 0) AS reasoning_tokens,
                   coalesce(sum(cost_usd), 0) AS cost_usd,
                   count(*) FILTER (WHERE NOT priced) AS unpriced_runs
              FROM usage_log
             WHERE created_at >= $1 AND created_at < $2 AND ($3::text IS NULL OR user_id = $3)
             GROUP BY 1 ORDER BY 1 NULLS LAST""",
        start, end, user_id,
    )  # fmt: skip
    return UsageReport(group_by, start, end, user_id, [
        UsageRow(key=r["key"], cost_usd=Decimal(r["cost_usd"]),
                 **{n: int(r[n]) for n in _COUNTS})
        for r in rows])  # fmt: skip
