"""Chat destinations of the caller and of the caller's teams. The URL is write-only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field, SecretStr

from servicebay.core import chat
from servicebay.core.chat import ChatDestination
from servicebay.core.outbound import OutboundPolicy
from servicebay.portal.deps import ApiUser, AppSettings, DbSession, require_scope

router = APIRouter(tags=["chat"])


class ChatIn(BaseModel):
    format: str = Field(max_length=16, description=f"one of: {', '.join(chat.FORMATS)}")
    url: SecretStr | None = Field(
        default=None,
        max_length=chat.MAX_URL_LENGTH,
        description="The incoming-webhook URL; write-only. Leave out to keep the saved one.",
    )
    topics: list[Annotated[str, Field(max_length=64)]] | None = Field(
        default=None,
        max_length=50,
        description="The topics posted there; leave out to keep those chosen before",
    )


class ChatOut(BaseModel):
    configured: bool
    format: str | None = None
    host: str | None = Field(default=None, description="The URL's host: the URL is never shown")
    topics: list[str] = Field(default_factory=list)
    updated_at: datetime | None = None


def _out(destination: ChatDestination | None) -> ChatOut:
    shown = chat.view(destination)
    if shown is None:
        return ChatOut(configured=False)
    return ChatOut(
        configured=True,
        format=shown.format,
        host=shown.host,
        topics=shown.topics,
        updated_at=shown.updated_at,
    )


def _url(body: ChatIn) -> str | None:
    return body.url.get_secret_value() if body.url is not None else None


@router.get("/me/chat", response_model=ChatOut)
def my_chat(db: DbSession, user: ApiUser) -> ChatOut:
    return _out(chat.of_user(db, user_id=user.id))


@router.put("/me/chat", response_model=ChatOut)
def set_my_chat(
    body: ChatIn, request: Request, db: DbSession, user: ApiUser, settings: AppSettings
) -> ChatOut:
    """Post my notifications to a chat webhook, on the topics chosen."""
    require_scope(request, "request")
    destination = chat.set_for_user(
        db,
        user=user,
        format=body.format,
        url=_url(body),
        topics=body.topics,
        policy=OutboundPolicy.from_settings(settings),
    )
    return _out(destination)


@router.delete("/me/chat", status_code=204)
def remove_my_chat(request: Request, db: DbSession, user: ApiUser) -> Response:
    require_scope(request, "request")
    chat.remove_for_user(db, user=user)
    return Response(status_code=204)


@router.get("/teams/{team_slug}/chat", response_model=ChatOut)
def team_chat(team_slug: str, db: DbSession, user: ApiUser) -> ChatOut:
    return _out(chat.of_team_for(db, viewer=user, team_slug=team_slug))


@router.put("/teams/{team_slug}/chat", response_model=ChatOut)
def set_team_chat(
    team_slug: str,
    body: ChatIn,
    request: Request,
    db: DbSession,
    user: ApiUser,
    settings: AppSettings,
) -> ChatOut:
    """Post the team's notifications to a chat webhook (the team's leads)."""
    require_scope(request, "ops")
    destination = chat.set_for_team(
        db,
        actor=user,
        team_slug=team_slug,
        format=body.format,
        url=_url(body),
        topics=body.topics,
        policy=OutboundPolicy.from_settings(settings),
    )
    return _out(destination)


@router.delete("/teams/{team_slug}/chat", status_code=204)
def remove_team_chat(team_slug: str, request: Request, db: DbSession, user: ApiUser) -> Response:
    require_scope(request, "ops")
    chat.remove_for_team(db, actor=user, team_slug=team_slug)
    return Response(status_code=204)
