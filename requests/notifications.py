"""Tell requesters what happened: an in-app notice and, when mail is set up, an email.

Emails are runs of the durable engine, so a mail server that is down loses nothing.
Mail is on for sessions made by a factory configured with ``configure(sessions, ...)``:
the flag lives in the factory's fulfilment Reach, beside the workers its commits wake.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from servicebay.core import clock, preferences
from servicebay.requests.models import Notification, Request, RequestStatus, RunKind

EMAIL_ATTEMPTS = 8

MESSAGES = {
    RequestStatus.PENDING_APPROVAL: "is waiting for approval",
    RequestStatus.REJECTED: "was rejected",
    RequestStatus.IN_FULFILMENT: "is being fulfilled",
    RequestStatus.COMPLETED: "is completed",
    RequestStatus.FAILED: "failed; the owner team has been told",
    RequestStatus.CANCELLED: "was cancelled",
}


def configure(sessions: sessionmaker[Session], *, email: bool) -> None:
    from servicebay.requests.fulfilment import engine

    engine.reach(sessions).email = email


def status_changed(session: Session, request: Request, to: RequestStatus) -> None:
    what = MESSAGES.get(to)
    if what is None:
        return
    message = f"Request #{request.id} ({request.offering.name}) {what}."
    requester = request.requester_id
    channels = preferences.channels(session, user_id=requester, topic=to.value)
    if "app" in channels:
        session.add(
            Notification(
                user_id=requester,
                request_id=request.id,
                message=message,
                created_at=clock.now(),
            )
        )
    from servicebay.requests.fulfilment import engine

    if "email" in channels and engine.reach_of(session).email and request.requester.email:
        engine.enqueue(
            session,
            request=request,
            max_attempts=EMAIL_ATTEMPTS,
            kind=RunKind.EMAIL,
            payload={
                "to": request.requester.email,
                "subject": f"[servicebay] {message}",
                "body": f"{message}\n\nStatus: {to.value}\n",
            },
        )


def tell(session: Session, *, user_ids: list[int], request: Request, message: str) -> None:
    """An in-app notice to each of these people about the request."""
    now = clock.now()
    for user_id in sorted(set(user_ids)):
        session.add(
            Notification(user_id=user_id, request_id=request.id, message=message, created_at=now)
        )


def unread_for(session: Session, *, user_id: int, limit: int = 50) -> list[Notification]:
    statement = (
        select(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .order_by(Notification.id.desc())
        .limit(limit)
    )
    return list(session.scalars(statement))


def mark_read(session: Session, *, user_id: int) -> None:
    session.execute(
        update(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=clock.now())
    )
