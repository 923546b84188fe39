"""The caller's own account: who am I, personal API tokens."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from servicebay.core import clock, identity, policies
from servicebay.core.identity import SCOPES, ApiToken, IdentityError
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
    id: int
    name: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class IssuedTokenOut(TokenOut):
    token: str = Field(description="The token itself: shown this once, never again")


def token_out(token: ApiToken) -> TokenOut:
    return TokenOut(
        id=token.id,
        name=token.name,
        scopes=list(token.scopes),
        created_at=token.created_at,
        expires_at=token.expires_at,
        last_used_at=token.last_used_at,
        revoked_at=token.revoked_at,
    )


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
def my_tokens(db: DbSession, user: ApiUser) -> list[TokenOut]:
    return [token_out(t) for t in identity.tokens_of(db, user=user)]


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
    wider = policies.scopes_beyond(request.state.token_scopes, body.scopes)
    if wider:
        raise HTTPException(403, f"this token cannot grant scope(s) it lacks: {', '.join(wider)}")
    if not policies.can_hold_scopes(user, body.scopes):
        raise HTTPException(403, "only administrators may create tokens with the admin scope")
    expires = clock.now() + timedelta(days=body.expires_in_days) if body.expires_in_days else None
    try:
        issued = identity.create_token(
            db, user=user, name=body.name, scopes=body.scopes, expires_at=expires
        )
    except IdentityError as error:
        raise HTTPException(422, str(error)) from None
    return IssuedTokenOut(**token_out(issued.token).model_dump(), token=issued.value)


@router.delete("/tokens/{token_id}", response_model=TokenOut)
def revoke_token(request: Request, token_id: int, db: DbSession, user: ApiUser) -> TokenOut:
    require_scope(request, "read")
    try:
        return token_out(identity.revoke_token(db, user=user, token_id=token_id))
    except IdentityError as error:
        raise HTTPException(404, str(error)) from None
