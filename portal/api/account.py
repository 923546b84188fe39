"""The caller's own account: who am I, personal API tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from servicebay.core import identity
from servicebay.core.identity import SCOPES, ApiToken
from servicebay.portal.deps import ApiUser, AppSettings, DbSession, limit_rate, require_scope

router = APIRouter(tags=["account"])


class MeOut(BaseModel):
    username: str
    display_name: str
    email: str
    is_admin: bool
    is_analyst: bool
    teams: dict[str, str] = Field(description="team slug → role")


class TokenIn(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    scopes: list[Annotated[str, Field(max_length=20)]] = Field(
        default_factory=lambda: ["read", "request"],
        max_length=10,
        description=f"any of {', '.join(SCOPES)}",
    )
    expires_in_days: Annotated[int, Field(ge=1, le=3650)] | None = None


class TokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class IssuedTokenOut(TokenOut):
    token: str = Field(description="The token itself: shown this once, never again")


@router.get("/me", response_model=MeOut)
def me(user: ApiUser) -> MeOut:
    return MeOut(
        username=user.username,
        display_name=user.display_name,
        email=user.email,
        is_admin=user.is_admin,
        is_analyst=user.is_analyst,
        teams={m.team.slug: m.role for m in user.memberships},
    )


@router.get("/tokens", response_model=list[TokenOut])
def my_tokens(db: DbSession, user: ApiUser) -> list[ApiToken]:
    return identity.tokens_of(db, user=user)


@router.post("/tokens", response_model=IssuedTokenOut, status_code=201)
def create_token(
    request: Request, body: TokenIn, db: DbSession, user: ApiUser, settings: AppSettings
) -> IssuedTokenOut:
    """A token never grants more than its user has; a token cannot mint wider tokens."""
    limit_rate(
        request,
        db,
        action="token_creations",
        limit=settings.rate_limit_tokens,
        who=f"user:{user.id}",
    )
    issued = identity.create_token(
        db,
        user=user,
        name=body.name,
        scopes=body.scopes,
        expires_in_days=body.expires_in_days,
        granted_by=request.state.token_scopes,
    )
    return IssuedTokenOut(**TokenOut.model_validate(issued.token).model_dump(), token=issued.value)


@router.delete("/tokens/{token_id}", response_model=TokenOut)
def revoke_token(request: Request, token_id: int, db: DbSession, user: ApiUser) -> ApiToken:
    """Revoke one of your tokens. A read-only token changes nothing, this included."""
    require_scope(request, "request")
    return identity.revoke_token(db, user=user, token_id=token_id)
