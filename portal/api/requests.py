"""Requests in the JSON API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from pydantic import BaseModel, Field

from servicebay.core import events
from servicebay.portal.deps import ApiUser, AppSettings, DbSession, limit_rate, require_scope
from servicebay.requests import service as requests_service
from servicebay.requests.models import Request as ServiceRequest

router = APIRouter(tags=["requests"])


class RequestIn(BaseModel):
    offering: str = Field(description="Slug of the offering")
    inputs: dict[str, Any] = Field(default_factory=dict)


class RequestOut(BaseModel):
    id: int
    offering: str
    offering_version: int
    status: str
    requester: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    submitted_at: datetime
    updated_at: datetime
    closed_at: datetime | None


class EventOut(BaseModel):
    id: int
    type: str
    occurred_at: datetime
    actor: str | None
    data: dict[str, Any]


def request_out(found: ServiceRequest) -> RequestOut:
    return RequestOut(
        id=found.id,
        offering=found.offering.slug,
        offering_version=found.version.number,
        status=found.status,
        requester=found.requester.username,
        inputs=dict(found.inputs),
        outputs=dict(found.outputs),
        submitted_at=found.submitted_at,
        updated_at=found.updated_at,
        closed_at=found.closed_at,
    )


@router.post("/requests", response_model=RequestOut, status_code=201)
def submit_request(
    request: Request,
    body: RequestIn,
    db: DbSession,
    user: ApiUser,
    settings: AppSettings,
    background: BackgroundTasks,
) -> RequestOut:
    require_scope(request, "request")
    limit_rate(
        request, db, action="submissions", limit=settings.rate_limit_submit, who=f"user:{user.id}"
    )
    created = requests_service.submit(
        db, actor=user, offering_slug=body.offering, inputs=body.inputs
    )
    worker = request.app.state.worker
    if worker is not None:
        background.add_task(worker.wake)
    return request_out(created)


@router.get("/requests", response_model=list[RequestOut])
def my_requests(db: DbSession, user: ApiUser) -> list[RequestOut]:
    return [request_out(r) for r in requests_service.list_for_requester(db, requester=user)]


@router.get("/requests/{request_id}", response_model=RequestOut)
def get_request(request_id: int, db: DbSession, user: ApiUser) -> RequestOut:
    return request_out(requests_service.get_for_viewer(db, request_id=request_id, viewer=user))


@router.get("/requests/{request_id}/events", response_model=list[EventOut])
def request_events(request_id: int, db: DbSession, user: ApiUser) -> list[EventOut]:
    found = requests_service.get_for_viewer(db, request_id=request_id, viewer=user)
    return [
        EventOut(
            id=event.id,
            type=event.type,
            occurred_at=event.occurred_at,
            actor=event.actor.username if event.actor else None,
            data=dict(event.data),
        )
        for event in events.for_request(db, request_id=found.id)
    ]
