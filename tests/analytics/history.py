"""Build request histories directly, back-dated, as the Event log would hold them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from servicebay.catalog.models import Offering
from servicebay.core import events
from servicebay.core.identity import User
from servicebay.requests.models import Request

CLOSED = {"completed", "rejected", "cancelled"}


def make_history(
    db: Session,
    offering: Offering,
    requester: User,
    steps: list[tuple[str, datetime]],
    *,
    data: dict[str, dict[str, Any]] | None = None,
) -> Request:
    """A request that went through ``steps`` (status or event type, when), in order.

    A step without a dot is a status (``request.<status>``); one with a dot is any other
    event on the request (``task.created``, ``run.attempt_failed``, ``request.rated``).
    """
    assert offering.current_version is not None
    statuses = [name for name, _ in steps if "." not in name]
    closed_at = next((at for name, at in reversed(steps) if name in CLOSED), None)
    request = Request(
        offering_id=offering.id,
        offering_version_id=offering.current_version.id,
        requester_id=requester.id,
        team_id=requester.team_ids[0] if requester.team_ids else None,
        inputs={},
        outputs={},
        status=statuses[-1],
        submitted_at=steps[0][1],
        updated_at=steps[-1][1],
        closed_at=closed_at,
    )
    db.add(request)
    db.flush()
    previous = None
    for name, at in steps:
        kind = name if "." in name else f"request.{name}"
        extra = dict((data or {}).get(name, {}))
        if "." not in name and previous is not None:
            extra["from"] = previous
        events.record(
            db,
            type=kind,
            actor_id=requester.id if name in ("submitted", "cancelled", "request.rated") else None,
            offering_id=offering.id,
            request_id=request.id,
            data=extra,
            at=at,
        )
        if "." not in name:
            previous = name
    db.flush()
    return request
