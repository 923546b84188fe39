"""Request operations: submit, read, list."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from servicebay.catalog import forms
from servicebay.catalog import service as catalog_service
from servicebay.core import clock, events
from servicebay.core.identity import User
from servicebay.requests import lifecycle
from servicebay.requests.errors import OfferingNotRequestable, RequestNotFound
from servicebay.requests.fulfilment import engine
from servicebay.requests.models import Request, RequestStatus


def submit(session: Session, *, actor: User, offering_slug: str, inputs: dict[str, Any]) -> Request:
    """Validate the inputs against the offering's current version and start the request."""
    offering = catalog_service.get_offering(session, slug=offering_slug, viewer=actor)
    if offering.status != "published" or offering.current_version is None:
        raise OfferingNotRequestable(f"{offering.name} is {offering.status} and takes no requests")
    version = offering.current_version
    cleaned = forms.validate_inputs(catalog_service.form_of(version), inputs)
    now = clock.now()
    request = Request(
        offering_id=offering.id,
        offering_version_id=version.id,
        requester_id=actor.id,
        team_id=actor.team_ids[0] if actor.team_ids else None,
        inputs=cleaned,
        outputs={},
        status=RequestStatus.SUBMITTED.value,
        submitted_at=now,
        updated_at=now,
    )
    session.add(request)
    session.flush()
    events.record(
        session,
        type="request.submitted",
        actor_id=actor.id,
        offering_id=offering.id,
        request_id=request.id,
        data={"version": version.number},
        at=now,
    )
    lifecycle.move(session, request, RequestStatus.IN_FULFILMENT, actor_id=None)
    engine.enqueue(session, request=request, max_attempts=_max_attempts(version.fulfilment))
    return request


def _max_attempts(spec: dict[str, Any]) -> int:
    return int(spec.get("max_attempts", 5))


def get_for_viewer(session: Session, *, request_id: int, viewer: User) -> Request:
    """The request if the viewer may see it. Others' requests are 'not found', never 403."""
    request = session.get(Request, request_id)
    if request is None or not can_view(viewer, request):
        raise RequestNotFound(request_id)
    return request


def can_view(viewer: User, request: Request) -> bool:
    return (
        viewer.is_admin
        or request.requester_id == viewer.id
        or viewer.role_in(request.offering.owner_team_id) is not None
    )


def list_for_requester(session: Session, *, requester: User, limit: int = 100) -> list[Request]:
    statement = (
        select(Request)
        .where(Request.requester_id == requester.id)
        .order_by(Request.submitted_at.desc(), Request.id.desc())
        .limit(limit)
    )
    return list(session.scalars(statement))
