"""The Event log: append-only record of everything that happened.

It is both the audit trail and the source of analytics. Rows are only ever
inserted; nothing in the application updates or deletes them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, ForeignKey, Index, Select, String, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from servicebay.core import clock
from servicebay.core.database import Base, UTCDateTime

if TYPE_CHECKING:
    from servicebay.core.identity import User


class Event(Base):
    __tablename__ = "core_event"
    __table_args__ = (
        Index("ix_core_event_type_occurred_at", "type", "occurred_at"),
        Index("ix_core_event_offering_id_type", "offering_id", "type"),
        Index("ix_core_event_request_id", "request_id"),
        Index("ix_core_event_instance_id", "instance_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    type: Mapped[str] = mapped_column(String(64))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id"))
    # Plain columns, not foreign keys: the kernel knows no context's tables.
    offering_id: Mapped[int | None]
    request_id: Mapped[int | None]
    instance_id: Mapped[int | None]
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    actor: Mapped[User | None] = relationship("User", lazy="joined")


def record(
    session: Session,
    *,
    type: str,
    actor_id: int | None,
    offering_id: int | None = None,
    request_id: int | None = None,
    instance_id: int | None = None,
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> Event:
    """Append one Event to the current transaction."""
    event = Event(
        occurred_at=at or clock.now(),
        type=type,
        actor_id=actor_id,
        offering_id=offering_id,
        request_id=request_id,
        instance_id=instance_id,
        data=data or {},
    )
    session.add(event)
    return event


def record_many(session: Session, rows: list[dict[str, Any]]) -> None:
    """Append many Events at once, each row with the columns it sets (for imported or
    sample history, whose times lie in the past)."""
    if rows:
        session.execute(insert(Event), rows)


def for_request(session: Session, *, request_id: int) -> list[Event]:
    statement = (
        select(Event).where(Event.request_id == request_id).order_by(Event.occurred_at, Event.id)
    )
    return list(session.scalars(statement))


def for_instance(session: Session, *, instance_id: int) -> list[Event]:
    statement = (
        select(Event).where(Event.instance_id == instance_id).order_by(Event.occurred_at, Event.id)
    )
    return list(session.scalars(statement))


def find(
    session: Session,
    *,
    actor: str | None = None,
    actor_ids: Select[Any] | None = None,
    type: str | None = None,
    offering_ids: Select[Any] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> tuple[list[Event], int | None]:
    """The audit trail: newest first, narrowed by the filters, and the id to page back
    from if there are more. ``actor`` is a username; ``type`` is exact, or a prefix ending
    in '.'; a time without a zone is taken as UTC; ``actor_ids`` and ``offering_ids`` are
    statements a context built."""
    since, until = _aware(since), _aware(until)
    statement = select(Event).order_by(Event.id.desc()).limit(limit + 1)
    if actor:
        statement = statement.where(Event.actor.has(username=actor))
    if actor_ids is not None:
        statement = statement.where(Event.actor_id.in_(actor_ids))
    if type:
        statement = statement.where(
            Event.type.startswith(type) if type.endswith(".") else Event.type == type
        )
    if offering_ids is not None:
        statement = statement.where(Event.offering_id.in_(offering_ids))
    if since:
        statement = statement.where(Event.occurred_at >= since)
    if until:
        statement = statement.where(Event.occurred_at < until)
    if before_id:
        statement = statement.where(Event.id < before_id)
    rows = list(session.scalars(statement))
    page, more = rows[:limit], len(rows) > limit
    return page, (page[-1].id if more and page else None)


def _aware(moment: datetime | None) -> datetime | None:
    """A time without a zone is taken as UTC, the zone every Event is stored in."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment
