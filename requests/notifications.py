"""Tell people and teams what happened: in the app, by email, in chat.

One notice goes out on every channel the person chose for its topic (topics are
``core.preferences.TOPICS``), and to the chat channel of each team concerned that hears the
topic (``TEAM_TOPICS``). Emails and chat messages are runs of the durable engine, created in
the transaction of the change they tell of: retried with backoff, and never sent for a
change that was rolled back. Mail is on for sessions made by a factory configured with
``configure(sessions, ...)``: the flag lives in the factory's fulfilment Reach, beside the
workers its commits wake.

The author and voters of a demand hear of its triage: the catalog says so through
``core.notices``, and ``demand_notice`` delivers it here (in the app and by email).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ScalarSelect, Select, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from servicebay.core import chat, clock, notices, preferences
from servicebay.core.chat import ChatDestination
from servicebay.core.identity import Team, User
from servicebay.core.preferences import NotificationPreference
from servicebay.requests.models import Notification, Request, RequestStatus, RunKind

EMAIL_ATTEMPTS = 8
CHAT_ATTEMPTS = 8

MESSAGES = {
    RequestStatus.PENDING_APPROVAL: "is waiting for approval",
    RequestStatus.REJECTED: "was rejected",
    RequestStatus.IN_FULFILMENT: "is being fulfilled",
    RequestStatus.COMPLETED: "is completed",
    RequestStatus.FAILED: "failed; the owner team has been told",
    RequestStatus.CANCELLED: "was cancelled",
}
# What a team's channel is told, where it differs from what the requester is told.
TEAM_MESSAGES = {RequestStatus.FAILED: "failed"}


@dataclass(frozen=True)
class Link:
    """A button back to the portal: a path, made absolute with the base URL when sent."""

    label: str
    path: str


@dataclass(frozen=True)
class Notice:
    """One thing to tell, on one topic, about one request or one demand."""

    topic: str
    request: Request | None
    message: str  # one sentence, for the app, the subject line and the chat title
    links: tuple[Link, ...]
    details: tuple[tuple[str, str], ...] = field(default=())  # shown in chat as facts
    demand_id: int | None = None


def request_link(request: Request) -> Link:
    return Link(f"Open request #{request.id}", f"/requests/{request.id}")


def approvals_link() -> Link:
    return Link("Review in approvals", "/approvals")


def board_link(team: Team) -> Link:
    return Link(f"Open {team.name}'s board", f"/ops?team={team.slug}")


def configure(
    sessions: sessionmaker[Session], *, email: bool, base_url: str = "http://127.0.0.1:8000"
) -> None:
    """Whether the factory's sessions send email, and the portal address their links use."""
    from servicebay.requests.fulfilment import engine

    reach = engine.reach(sessions)
    reach.email = email
    reach.base_url = base_url.rstrip("/")


def demand_notice(session: Session, notice: notices.Notice) -> None:
    """A notice about a demand (the catalog's decisions), told like any other: to each
    person on the channels they chose, with a button back to the need."""
    links = (Link("Open the need", f"/demand/{notice.demand_id}"),) if notice.demand_id else ()
    tell_people(
        session,
        Notice(notice.topic, None, notice.message, links, demand_id=notice.demand_id),
        user_ids=notice.user_ids,
    )


notices.deliver_with(demand_notice)


def status_changed(
    session: Session, request: Request, to: RequestStatus, data: dict[str, Any] | None = None
) -> None:
    """Tell the requester, as they chose, and the owner team's chat channel."""
    what = MESSAGES.get(to)
    if what is None:
        return
    subject = f"Request #{request.id} ({request.offering.name})"
    details = _details(request, data or {})
    tell_people(
        session,
        Notice(to.value, request, f"{subject} {what}.", (request_link(request),), details),
        user_ids=[request.requester_id],
    )
    if to.value not in preferences.TEAM_TOPICS:
        return
    owner_team_id = request.offering.owner_team_id
    heard = chat.of_teams(session, team_ids=[owner_team_id]).values()
    if not any(chat.hears(destination, to.value) for destination in heard):
        return  # the team's channel does not hear this (or there is none): nothing to post
    team = session.get(Team, owner_team_id)
    if team is None:
        return
    links = (
        (board_link(team), request_link(request))
        if to is RequestStatus.FAILED
        else (request_link(request),)
    )
    team_what = TEAM_MESSAGES.get(to, what)
    tell_teams(
        session,
        Notice(to.value, request, f"{subject} {team_what}.", links, details),
        teams=[team],
    )


def approval_waiting(
    session: Session, *, request: Request, step: str, user_ids: list[int], team: Team | None
) -> None:
    """Tell the people who may decide the step, and the deciding team's channel."""
    notice = Notice(
        "approval_waiting",
        request,
        f"Request #{request.id} ({request.offering.name}) waits for your approval: {step}.",
        (approvals_link(), request_link(request)),
        (("Step", step), *_details(request, {})),
    )
    tell_people(session, notice, user_ids=user_ids)
    if team is not None:
        team_notice = Notice(
            notice.topic,
            request,
            f"Request #{request.id} ({request.offering.name}) waits for {team.name}'s "
            f"approval: {step}.",
            notice.links,
            notice.details,
        )
        tell_teams(session, team_notice, teams=[team])


def tell_people(session: Session, notice: Notice, *, user_ids: Iterable[int]) -> None:
    """Tell each person on the channels they chose for the notice's topic."""
    from servicebay.requests.fulfilment import engine

    people = sorted(set(user_ids))
    if not people:
        return
    reach = engine.reach_of(session)
    how = _how_to_reach(session, user_ids=people)
    for user_id in people:
        chosen, destination = how.get(user_id, (None, None))
        channels = preferences.channels_in(chosen, topic=notice.topic)
        if "app" in channels:
            session.add(
                Notification(
                    user_id=user_id,
                    request_id=notice.request.id if notice.request is not None else None,
                    demand_id=notice.demand_id,
                    message=notice.message,
                    created_at=clock.now(),
                )
            )
        if "email" in channels and reach.email:
            _email(session, notice, session.get(User, user_id), base_url=reach.base_url)
        if channels and chat.hears(destination, notice.topic):
            _chat(session, notice, destination)


def _how_to_reach(
    session: Session, *, user_ids: list[int]
) -> dict[int, tuple[NotificationPreference | None, ChatDestination | None]]:
    """Each person's stored preferences and chat destination (None where they have
    none), by person, in one query: read at every status change."""
    rows = session.execute(
        select(User.id, NotificationPreference, ChatDestination)
        .outerjoin(NotificationPreference, NotificationPreference.user_id == User.id)
        .outerjoin(ChatDestination, ChatDestination.user_id == User.id)
        .where(User.id.in_(user_ids))
    )
    return {user_id: (chosen, destination) for user_id, chosen, destination in rows}


def tell_teams(session: Session, notice: Notice, *, teams: Iterable[Team]) -> None:
    """Post the notice to the chat channel of each team that hears its topic."""
    destinations = chat.of_teams(session, team_ids=[team.id for team in teams])
    for destination in destinations.values():
        if chat.hears(destination, notice.topic):
            _chat(session, notice, destination)


def _email(session: Session, notice: Notice, person: User | None, *, base_url: str) -> None:
    from servicebay.requests.fulfilment import engine

    if person is None or not person.email:
        return
    engine.enqueue(
        session,
        request=notice.request,
        max_attempts=EMAIL_ATTEMPTS,
        kind=RunKind.EMAIL,
        payload={
            "to": person.email,
            "subject": f"[servicebay] {notice.message}",
            "body": "\n".join(
                [
                    notice.message,
                    "",
                    *(f"{name}: {value}" for name, value in notice.details),
                    *(f"{link.label}: {base_url}{link.path}" for link in notice.links),
                ]
            )
            + "\n",
        },
    )


def _chat(session: Session, notice: Notice, destination: chat.ChatDestination | None) -> None:
    """One chat run per destination and notice; the URL stays in the destination's row."""
    from servicebay.requests.fulfilment import engine

    if destination is None:
        return
    engine.enqueue(
        session,
        request=notice.request,
        max_attempts=CHAT_ATTEMPTS,
        kind=RunKind.CHAT,
        payload={
            "destination": destination.id,
            "topic": notice.topic,
            "message": notice.message,
            "links": [{"label": link.label, "path": link.path} for link in notice.links],
            "details": [[name, value] for name, value in notice.details],
        },
    )


def _details(request: Request, data: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    found = [("Offering", request.offering.name), ("Requester", request.requester.display_name)]
    reason = str(data.get("reason") or "").strip()
    if reason:
        found.append(("Reason", reason[:300]))
    return tuple(found)


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
    return int(session.scalar(select(unread_count_of(user_id))) or 0)


def unread_count_of(user_id: int) -> ScalarSelect[int]:
    """unread_count as a value to read with others in one query."""
    return (
        select(func.count(Notification.id))
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .scalar_subquery()
    )


def mark_read(session: Session, *, user_id: int) -> None:
    session.execute(
        update(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=clock.now())
    )
