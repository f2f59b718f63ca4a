"""Who am I: the identity the bearer token carries."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from renum.api.deps import CurrentUser

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["identity"])


class Me(BaseModel):
    """The caller as Renum sees them."""

    user_id: str
    is_admin: bool


@router.get("/me", summary="The caller's identity", response_model=Me)
async def me(user: CurrentUser) -> Me:
    """Return the user id and role of the bearer token."""
    return Me(user_id=user.user_id, is_admin=user.is_admin)
