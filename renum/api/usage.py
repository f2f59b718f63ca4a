"""Usage reports and budgets: `GET /v1/usage`, `GET /v1/budget`, `PUT /v1/budgets/{user}`."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from renum.api.deps import CurrentUser, PoolDep, RedisDep
from renum.budgets import (
    announce_budget_change,
    month_bounds,
    month_spent,
    user_monthly_budget,
)
from renum.errors import NotFoundError, RequestValidationProblem
from renum.reports import parse_period, usage_report

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["usage"])


@router.get("/usage", summary="Usage and cost over a period, grouped",
            responses={200: {"content": {"application/json": {}, "text/csv": {}}}})  # fmt: skip
async def get_usage(
    user: CurrentUser,
    pool: PoolDep,
    from_: Annotated[str | None, Query(alias="from", max_length=40,
                                       description="Date or ISO datetime (default: month start)")]
    = None,
    to: Annotated[str | None, Query(max_length=40,
                                    description="Date (included) or ISO datetime (excluded)")]
    = None,
    group_by: Literal["day", "team", "agent", "model", "execution", "user"] = "day",
    user_id: Annotated[str | None, Query(max_length=200)] = None,
    format: Literal["json", "csv"] = "json",
) -> Response:  # fmt: skip
    """Your usage (admins: anyone's with `user_id`, or everyone's); totals = sum of rows."""
    if (user_id is not None and user_id != user.user_id) or group_by == "user":
        user.require_admin()
    try:
        start, end = parse_period(from_, to)
    except ValueError as exc:
        raise RequestValidationProblem(
            str(exc), errors=[{"path": "/query", "code": "invalid_period", "message": str(exc)}]
        ) from None
    scope = user_id if user_id is not None else (None if user.is_admin else user.user_id)
    report = await usage_report(pool, start=start, end=end, group_by=group_by, user_id=scope)
    if format == "csv":
        return Response(report.to_csv(), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="usage-{group_by}.csv"'})  # fmt: skip
    return JSONResponse(report.to_json())


class BudgetIn(BaseModel):
    """A user's monthly budget in USD."""

    monthly_usd: Decimal = Field(ge=0, le=1_000_000_000, max_digits=20, decimal_places=10)


def _usd(value: Decimal) -> str:
    """A plain decimal string: ``10``, ``0.25`` (never ``0E-10``)."""
    return format(value.normalize(), "f")


async def _budget_view(pool: Any, user_id: str) -> dict[str, Any]:
    limit = await user_monthly_budget(pool, user_id)
    spent = await month_spent(pool, user_id)
    start, end = month_bounds()
    return {
        "user_id": user_id, "monthly_usd": None if limit is None else _usd(limit),
        "month": f"{start:%Y-%m}", "period": {"from": start.isoformat(), "to": end.isoformat()},
        "spent_usd": _usd(spent),
        "remaining_usd": None if limit is None else _usd(max(Decimal(0), limit - spent)),
        "exhausted": limit is not None and spent >= limit,
    }  # fmt: skip


@router.get("/budget", summary="Your monthly budget and this month's spend")
async def get_own_budget(user: CurrentUser, pool: PoolDep) -> Any:
    """The caller's budget (null when none), spend this calendar month (UTC) and what is left."""
    return await _budget_view(pool, user.user_id)


@router.get("/budgets/{user_id}", summary="A user's monthly budget (admin)")
async def get_budget(user_id: str, user: CurrentUser, pool: PoolDep) -> Any:
    """Like `GET /v1/budget`, for any user."""
    user.require_admin()
    return await _budget_view(pool, user_id)


@router.put("/budgets/{user_id}", summary="Set a user's monthly budget (admin)")
async def put_budget(
    user_id: str, body: BudgetIn, user: CurrentUser, pool: PoolDep, redis: RedisDep
) -> Any:
    """Create or replace the budget; it applies to the current month at once."""
    user.require_admin()
    await pool.execute(
        """INSERT INTO user_budgets (user_id, monthly_usd) VALUES ($1, $2)
           ON CONFLICT (user_id) DO UPDATE SET monthly_usd = EXCLUDED.monthly_usd,
                                               updated_at = now()""",
        user_id, body.monthly_usd,
    )  # fmt: skip
    await announce_budget_change(redis, user_id)
    return await _budget_view(pool, user_id)


@router.delete("/budgets/{user_id}", status_code=204, summary="Remove a user's budget (admin)")
async def delete_budget(
    user_id: str, user: CurrentUser, pool: PoolDep, redis: RedisDep
) -> Response:
    """The user has no monthly limit afterwards."""
    user.require_admin()
    if await pool.fetchval("DELETE FROM user_budgets WHERE user_id = $1 RETURNING 1",
                           user_id) is None:  # fmt: skip
        raise NotFoundError(f"user {user_id!r} has no budget")
    await announce_budget_change(redis, user_id)
    return Response(status_code=204)
