"""Tell people what happened: an in-app notice and, when mail is set up, an email.

Requesters hear of their requests' status changes; the author and voters of a demand hear
of its triage (the catalog says so through ``core.notices``, delivered here). Emails are
runs of the durable engine, so a mail server that is down loses nothing. Mail is on for
sessions made by a factory configured with ``configure(sessions, ...)``: the flag lives in
the factory's fulfilment Reach, beside the workers its commits wake.
"""

from __future__ import annotations

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from servicebay.core import clock, notices, preferences
from servicebay.core.identity import User
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


def configure(
    sessions: sessionmaker[Session], *, email: bool, base_url: str = "http://127.0.0.1:8000"
) -> None:
    """Whether the factory's sessions send email, and the portal address their links use."""
    from servicebay.requests.fulfilment import engine

    reach = engine.reach(sessions)
    reach.email = email
    reach.base_url = base_url.rstrip("/")


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


def demand_notice(session: Session, notice: notices.Notice) -> None:
    """A notice about a demand, to each person as they chose (the catalog's decisions)."""
    from servicebay.requests.fulfilment import engine

    reach = engine.reach_of(session)
    link = f"{reach.base_url}/demand/{notice.demand_id}" if notice.demand_id else reach.base_url
    people = session.scalars(select(User).where(User.id.in_(notice.user_ids)).order_by(User.id))
    for person in people:
        channels = preferences.channels(session, user_id=person.id, topic=notice.topic)
        if "app" in channels:
            session.add(
                Notification(
                    user_id=person.id,
                    demand_id=notice.demand_id,
                    message=notice.message,
                    created_at=clock.now(),
                )
            )
        if "email" in channels and reach.email and person.email:
            engine.enqueue(
                session,
                request=None,
                max_attempts=EMAIL_ATTEMPTS,
                kind=RunKind.EMAIL,
                payload={
                    "to": person.email,
                    "subject": f"[servicebay] {notice.message}",
                    "body": f"{notice.message}\n\n{link}\n",
                },
            )


notices.deliver_with(demand_notice)


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


def newest_first(*, user_id: int) -> Select[Notification]:
    """Every notification of the user, the newest first (to page through)."""
    return (
        select(Notification).where(Notification.user_id == user_id).order_by(Notification.id.desc())
    )


def unread_count(session: Session, *, user_id: int) -> int:
    statement = select(func.count(Notification.id)).where(
        Notification.user_id == user_id, Notification.read_at.is_(None)
    )
    return int(session.scalar(statement) or 0)


def mark_read(session: Session, *, user_id: int) -> None:
    session.execute(
        update(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=clock.now())
    )
