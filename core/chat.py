"""Chat destinations: where a team's or a person's notifications are posted in chat.

A destination is a chat incoming-webhook URL: a Slack incoming webhook, or a Microsoft
Teams workflow started by "When a Teams webhook request is received". Whoever holds the
URL may post to the channel, so it is a secret: stored encrypted, never shown again after
it is saved (only its host is), and checked against the outbound policy like every other
address servicebay calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.orm.attributes import flag_modified

from servicebay.core import clock, events
from servicebay.core.crypto import EncryptedText
from servicebay.core.database import Base, UTCDateTime
from servicebay.core.errors import Denied, Invalid
from servicebay.core.identity import Role, Team, TeamNotFound, User
from servicebay.core.outbound import OutboundPolicy, OutboundRefused
from servicebay.core.preferences import TEAM_TOPICS, TOPICS

FORMATS = {
    "slack": "Slack (incoming webhook)",
    "teams": "Microsoft Teams (workflow webhook)",
}
MAX_URL_LENGTH = 2000
# What a team's channel hears until its leads choose: what needs someone of the team.
TEAM_DEFAULT_TOPICS = ("approval_waiting", "failed")


class ChatDestination(Base):
    """One chat incoming webhook, of one person or of one team."""

    __tablename__ = "core_chat_destination"
    __table_args__ = (CheckConstraint("(user_id IS NULL) <> (team_id IS NULL)", name="one_owner"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="CASCADE"), unique=True
    )
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_team.id", ondelete="CASCADE"), unique=True
    )
    format: Mapped[str] = mapped_column(String(16))
    url: Mapped[str] = mapped_column(EncryptedText)
    host: Mapped[str] = mapped_column(String(255))  # the only part ever shown again
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="SET NULL")
    )


class ChatDenied(Denied):
    """Only a team's leads (and administrators) set where the team is told in chat."""


@dataclass(frozen=True)
class ChatView:
    """What may be shown of a destination: never its URL."""

    format: str
    format_label: str
    host: str
    topics: list[str]
    updated_at: datetime


def view(destination: ChatDestination | None) -> ChatView | None:
    if destination is None:
        return None
    return ChatView(
        format=destination.format,
        format_label=FORMATS.get(destination.format, destination.format),
        host=destination.host,
        topics=list(destination.topics),
        updated_at=destination.updated_at,
    )


def of_user(session: Session, *, user_id: int) -> ChatDestination | None:
    return session.scalar(select(ChatDestination).where(ChatDestination.user_id == user_id))


def of_team(session: Session, *, team_id: int) -> ChatDestination | None:
    return session.scalar(select(ChatDestination).where(ChatDestination.team_id == team_id))


def of_users(session: Session, *, user_ids: list[int]) -> dict[int, ChatDestination]:
    """The destinations of these people, by person (one query)."""
    if not user_ids:
        return {}
    statement = select(ChatDestination).where(ChatDestination.user_id.in_(user_ids))
    return {found.user_id: found for found in session.scalars(statement) if found.user_id}


def of_teams(session: Session, *, team_ids: list[int]) -> dict[int, ChatDestination]:
    """The destinations of these teams, by team (one query)."""
    if not team_ids:
        return {}
    statement = select(ChatDestination).where(ChatDestination.team_id.in_(team_ids))
    return {found.team_id: found for found in session.scalars(statement) if found.team_id}


def get(session: Session, *, destination_id: int) -> ChatDestination | None:
    return session.get(ChatDestination, destination_id)


def may_manage_team(user: User, team: Team) -> bool:
    return user.is_admin or user.role_in(team.id) is Role.LEAD


def team_for(session: Session, *, viewer: User, slug: str) -> Team:
    """The team, if the viewer belongs to it (or is an admin); not found otherwise."""
    team = session.scalar(select(Team).where(Team.slug == slug))
    if team is None or not (viewer.is_admin or viewer.role_in(team.id) is not None):
        raise TeamNotFound(f"no team {slug!r}")
    return team


def of_team_for(session: Session, *, viewer: User, team_slug: str) -> ChatDestination | None:
    """The team's destination, for its members to see (as a ChatView: host only)."""
    team = team_for(session, viewer=viewer, slug=team_slug)
    return of_team(session, team_id=team.id)


def set_for_user(
    session: Session,
    *,
    user: User,
    format: str,
    url: str | None,
    topics: list[str] | None,
    policy: OutboundPolicy,
) -> ChatDestination:
    """Post the person's notifications on these topics to this chat webhook.

    ``url`` None (or empty) keeps the URL already saved, to change only the format or
    topics; ``topics`` None keeps those chosen before (every topic, for a new destination).
    """
    found = of_user(session, user_id=user.id)
    destination = found or ChatDestination(user_id=user.id, topics=list(TOPICS))
    chosen = _topics(topics, allowed=TOPICS, before=destination.topics)
    _save(session, destination, actor=user, format=format, url=url, topics=chosen, policy=policy)
    return destination


def set_for_team(
    session: Session,
    *,
    actor: User,
    team_slug: str,
    format: str,
    url: str | None,
    topics: list[str] | None,
    policy: OutboundPolicy,
) -> ChatDestination:
    """Post the team's notifications on these topics to this chat webhook (leads only)."""
    team = team_for(session, viewer=actor, slug=team_slug)
    if not may_manage_team(actor, team):
        raise ChatDenied(f"only the leads of {team.name} set where the team is told in chat")
    found = of_team(session, team_id=team.id)
    destination = found or ChatDestination(team_id=team.id, topics=list(TEAM_DEFAULT_TOPICS))
    chosen = _topics(topics, allowed=TEAM_TOPICS, before=destination.topics)
    _save(session, destination, actor=actor, format=format, url=url, topics=chosen, policy=policy)
    return destination


def remove_for_user(session: Session, *, user: User) -> bool:
    return _remove(session, of_user(session, user_id=user.id), actor=user)


def remove_for_team(session: Session, *, actor: User, team_slug: str) -> bool:
    team = team_for(session, viewer=actor, slug=team_slug)
    if not may_manage_team(actor, team):
        raise ChatDenied(f"only the leads of {team.name} set where the team is told in chat")
    return _remove(session, of_team(session, team_id=team.id), actor=actor)


def hears(destination: ChatDestination | None, topic: str) -> bool:
    return destination is not None and topic in destination.topics


def reencrypt(session: Session) -> int:
    """Write every stored URL again, encrypted with the current secret key."""
    destinations = session.scalars(select(ChatDestination)).all()
    for destination in destinations:
        flag_modified(destination, "url")
    return len(destinations)


def check_url(url: str, *, policy: OutboundPolicy) -> str:
    """The URL's host, if servicebay may post to the URL; Invalid (on ``url``) if not."""
    url = url.strip()
    parts = urlsplit(url)
    if len(url) > MAX_URL_LENGTH:
        raise Invalid(problems={"url": f"use at most {MAX_URL_LENGTH} characters"})
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise Invalid(problems={"url": "give the webhook's full address, https://…"})
    try:
        address = policy.resolve(url)
    except OutboundRefused as refused:
        raise Invalid(problems={"url": f"servicebay may not post there: {refused}"}) from None
    allowed = parts.hostname.lower() in policy.allowed_hosts or any(
        address in network for network in policy.allowed_networks
    )
    if parts.scheme == "http" and not allowed:
        # The address is a credential: it is not sent over the internet in clear text.
        raise Invalid(problems={"url": "use the https:// address the chat service gave you"})
    return parts.hostname.lower()


def _topics(topics: list[str] | None, *, allowed: dict[str, str], before: list[str]) -> list[str]:
    if topics is None:
        return [topic for topic in allowed if topic in before]
    unknown = sorted(set(topics) - set(allowed))
    if unknown:
        raise Invalid(problems={"topics": f"unknown topic(s): {', '.join(unknown)}"})
    return [topic for topic in allowed if topic in topics]


def _save(
    session: Session,
    destination: ChatDestination,
    *,
    actor: User,
    format: str,
    url: str | None,
    topics: list[str],
    policy: OutboundPolicy,
) -> None:
    if format not in FORMATS:
        raise Invalid(problems={"format": f"choose one of: {', '.join(FORMATS)}"})
    if url and url.strip():
        destination.host = check_url(url, policy=policy)
        destination.url = url.strip()
    elif destination.id is None:
        raise Invalid(problems={"url": "give the webhook's address"})
    destination.format = format
    destination.topics = topics
    destination.updated_at = clock.now()
    destination.updated_by_id = actor.id
    session.add(destination)
    session.flush()
    events.record(
        session,
        type="chat.destination_set",
        actor_id=actor.id,
        data=_described(destination),
    )


def _remove(session: Session, destination: ChatDestination | None, *, actor: User) -> bool:
    if destination is None:
        return False
    events.record(
        session, type="chat.destination_removed", actor_id=actor.id, data=_described(destination)
    )
    session.delete(destination)
    session.flush()
    return True


def _described(destination: ChatDestination) -> dict[str, object]:
    """What the audit trail keeps of a destination: never the URL."""
    owner = {"team_id": destination.team_id} if destination.team_id else {}
    return {
        **owner,
        "user_id": destination.user_id,
        "format": destination.format,
        "host": destination.host,
        "topics": list(destination.topics),
    }
