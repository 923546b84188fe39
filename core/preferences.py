"""What each person wants to be told, and how: their notification preferences.

No row means the defaults: every topic, in the app and by email when mail is set up.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, bindparam, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from servicebay.core import clock, events
from servicebay.core.database import Base, UTCDateTime

# What a person can choose to hear about, in the product's words: the one list of topics.
# Every channel (the app, email, chat) is chosen per topic from it.
TOPICS = {
    "approval_waiting": "A request waits for my approval",
    "pending_approval": "My request waits for approval",
    "rejected": "My request was rejected",
    "in_fulfilment": "My request is being fulfilled",
    "completed": "My request is completed",
    "failed": "My request failed",
    "cancelled": "My request was cancelled",
    "demand_accepted": "A need I asked for or voted for was accepted",
    "demand_declined": "A need I asked for or voted for was declined",
    "demand_merged": "A need I asked for or voted for was merged into another",
    "demand_shipped": "A need I asked for or voted for shipped as an offering",
    "digest": "My team's retrospective digest is ready",
    "expiry": "My instance is about to expire",
}
# What a team's chat channel can hear about, for the requests of the team's offerings and
# the approvals the team decides; keyed like TOPICS.
TEAM_TOPICS = {
    "approval_waiting": "A request waits for the team's approval",
    "in_fulfilment": "A request for the team's offerings is being fulfilled",
    "completed": "A request for the team's offerings is completed",
    "failed": "A request for the team's offerings failed",
    "rejected": "A request for the team's offerings was rejected",
    "cancelled": "A request for the team's offerings was cancelled",
}


class NotificationPreference(Base):
    __tablename__ = "core_notification_preference"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("core_user.id", ondelete="CASCADE"), unique=True
    )
    email: Mapped[bool] = mapped_column(default=True)
    muted: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


# Read at every request status change: built once.
_OF_USER = select(NotificationPreference).where(
    NotificationPreference.user_id == bindparam("user_id")
)


def of(session: Session, *, user_id: int) -> NotificationPreference:
    """The person's preferences, or the defaults (not stored) when they chose nothing."""
    found = session.scalar(_OF_USER, {"user_id": user_id})
    return found or NotificationPreference(
        user_id=user_id, email=True, muted=[], updated_at=clock.now()
    )


def choose(session: Session, *, user_id: int, email: bool, topics: list[str]) -> None:
    """Keep what the person wants to hear about; anything not chosen is muted."""
    chosen = of(session, user_id=user_id)
    chosen.email = email
    chosen.muted = sorted(topic for topic in TOPICS if topic not in topics)
    chosen.updated_at = clock.now()
    session.add(chosen)
    events.record(
        session,
        type="preferences.changed",
        actor_id=user_id,
        data={"email": email, "muted": chosen.muted},
    )


def channels(session: Session, *, user_id: int, topic: str) -> frozenset[str]:
    """Where to tell ``user_id`` about ``topic``: some of 'app' and 'email'."""
    return channels_in(session.scalar(_OF_USER, {"user_id": user_id}), topic=topic)


def channels_in(chosen: NotificationPreference | None, *, topic: str) -> frozenset[str]:
    """Where to tell about ``topic`` someone who chose ``chosen`` (None: the defaults)."""
    if chosen is None:
        return frozenset({"app", "email"})
    if topic in chosen.muted:
        return frozenset()
    return frozenset({"app", "email"}) if chosen.email else frozenset({"app"})
