"""The request state machine: one table of allowed steps, one function that takes a step."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from servicebay.core import clock, events

# Imported with the lifecycle (not late, when a request first moves), so that whatever uses
# requests also delivers the notices other contexts tell through core.notices.
from servicebay.requests import instances, notifications
from servicebay.requests.errors import TransitionNotAllowed
from servicebay.requests.models import Request
from servicebay.requests.models import RequestStatus as S

ALLOWED: dict[S, frozenset[S]] = {
    S.SUBMITTED: frozenset({S.PENDING_APPROVAL, S.IN_FULFILMENT, S.CANCELLED}),
    S.PENDING_APPROVAL: frozenset({S.REJECTED, S.IN_FULFILMENT, S.CANCELLED}),
    S.IN_FULFILMENT: frozenset({S.COMPLETED, S.FAILED, S.CANCELLED}),
    S.FAILED: frozenset({S.IN_FULFILMENT, S.CANCELLED}),
    S.REJECTED: frozenset(),
    S.COMPLETED: frozenset(),
    S.CANCELLED: frozenset(),
}
CLOSED = frozenset({S.REJECTED, S.COMPLETED, S.CANCELLED})


def lock(session: Session, request: Request) -> Request:
    """Lock the request's row for this transaction and reread it (plain row lock, no joins)."""
    session.execute(select(Request.id).where(Request.id == request.id).with_for_update())
    session.refresh(request)
    return request


def can_move(request: Request, to: S) -> bool:
    return to in ALLOWED[S(request.status)]


def move(
    session: Session,
    request: Request,
    to: S,
    *,
    actor_id: int | None,
    data: dict[str, Any] | None = None,
) -> None:
    """Take one step and append its Event to the same transaction."""
    current = S(request.status)
    if to not in ALLOWED[current]:
        raise TransitionNotAllowed(f"a {current.value} request cannot become {to.value}")
    now = clock.now()
    request.status = to.value
    request.updated_at = now
    if to in CLOSED:
        request.closed_at = now
    instances.follow(session, request, to, data or {})
    events.record(
        session,
        type=f"request.{to.value}",
        actor_id=actor_id,
        offering_id=request.offering_id,
        request_id=request.id,
        instance_id=request.instance_id,
        data={"from": current.value, **(data or {})},
        at=now,
    )
    notifications.status_changed(session, request, to, data)


# One function per transition; each names the step in the product's language.


def await_approval(session: Session, request: Request) -> None:
    move(session, request, S.PENDING_APPROVAL, actor_id=None)


def reject(session: Session, request: Request, *, actor_id: int, reason: str, step: str) -> None:
    move(session, request, S.REJECTED, actor_id=actor_id, data={"reason": reason, "step": step})


def start_fulfilment(session: Session, request: Request, *, actor_id: int | None) -> None:
    move(session, request, S.IN_FULFILMENT, actor_id=actor_id)


def complete(session: Session, request: Request, *, actor_id: int | None, **data: Any) -> None:
    move(session, request, S.COMPLETED, actor_id=actor_id, data=data)


def fail(session: Session, request: Request, **data: Any) -> None:
    move(session, request, S.FAILED, actor_id=None, data=data)


def cancel(session: Session, request: Request, *, actor_id: int, reason: str) -> None:
    move(session, request, S.CANCELLED, actor_id=actor_id, data={"reason": reason})
