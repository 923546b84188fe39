"""The audit trail: every Event, filtered. Read-only: there is no way to change one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from servicebay.catalog.models import Offering
from servicebay.core import policies
from servicebay.core.events import Event
from servicebay.core.identity import User
from servicebay.portal.api.params import IsoDateTime
from servicebay.portal.deps import ApiUser, DbSession

router = APIRouter(prefix="/audit", tags=["audit"])


class AuditEventOut(BaseModel):
    id: int
    occurred_at: datetime
    type: str
    actor: str | None
    offering_id: int | None
    request_id: int | None
    data: dict[str, Any]


class AuditPage(BaseModel):
    events: list[AuditEventOut]
    next_before_id: int | None


def find_events(
    db: Session,
    *,
    actor: str | None = None,
    type: str | None = None,
    offering: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> tuple[list[Event], int | None]:
    """Newest first, narrowed by the filters; and the id to page back from, if more."""
    since, until = _aware(since), _aware(until)
    statement = select(Event).order_by(Event.id.desc()).limit(limit + 1)
    if actor:
        statement = statement.join(User, User.id == Event.actor_id).where(User.username == actor)
    if type:
        statement = statement.where(
            Event.type.startswith(type) if type.endswith(".") else Event.type == type
        )
    if offering:
        statement = statement.join(Offering, Offering.id == Event.offering_id).where(
            Offering.slug == offering
        )
    if since:
        statement = statement.where(Event.occurred_at >= since)
    if until:
        statement = statement.where(Event.occurred_at < until)
    if before_id:
        statement = statement.where(Event.id < before_id)
    rows = list(db.scalars(statement))
    page, more = rows[:limit], len(rows) > limit
    return page, (page[-1].id if more and page else None)


def _aware(moment: datetime | None) -> datetime | None:
    """A time without a zone is taken as UTC, the zone every Event is stored in."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def require_audit_reader(user: User) -> None:
    if not policies.can_read_audit_trail(user):
        raise HTTPException(403, "only administrators read the audit trail")


@router.get("/events", response_model=AuditPage)
def audit_events(
    db: DbSession,
    user: ApiUser,
    actor: str | None = None,
    type: Annotated[str | None, Query(description="exact type, or a prefix ending in '.'")] = None,
    offering: str | None = None,
    since: IsoDateTime | None = None,
    until: IsoDateTime | None = None,
    before_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditPage:
    """Newest first; page backwards with ``before_id``. Administrators only."""
    require_audit_reader(user)
    page, next_before_id = find_events(
        db,
        actor=actor,
        type=type,
        offering=offering,
        since=since,
        until=until,
        before_id=before_id,
        limit=limit,
    )
    return AuditPage(
        events=[
            AuditEventOut(
                id=e.id,
                occurred_at=e.occurred_at,
                type=e.type,
                actor=e.actor.username if e.actor else None,
                offering_id=e.offering_id,
                request_id=e.request_id,
                data=dict(e.data),
            )
            for e in page
        ],
        next_before_id=next_before_id,
    )
