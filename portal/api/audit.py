"""The audit trail: every Event, filtered. Read-only: there is no way to change one."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AliasPath, BaseModel, ConfigDict, Field

from servicebay.catalog import service as catalog_service
from servicebay.core import events, policies
from servicebay.portal.api.params import IsoDateTime
from servicebay.portal.deps import ApiUser, DbSession

router = APIRouter(prefix="/audit", tags=["audit"])


class AuditEventOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True, json_schema_serialization_defaults_required=True
    )

    id: int
    occurred_at: datetime
    type: str
    actor: str | None = Field(validation_alias=AliasPath("actor", "username"), default=None)
    offering_id: int | None
    request_id: int | None
    data: dict[str, Any]


class AuditPage(BaseModel):
    events: list[AuditEventOut]
    next_before_id: int | None


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
    policies.require_audit_reader(user)
    page, next_before_id = events.find(
        db,
        actor=actor,
        type=type,
        offering_ids=catalog_service.ids_with_slug(offering) if offering else None,
        since=since,
        until=until,
        before_id=before_id,
        limit=limit,
    )
    return AuditPage(
        events=[AuditEventOut.model_validate(event) for event in page],
        next_before_id=next_before_id,
    )
