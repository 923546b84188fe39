"""The Event log: append-only record of everything that happened.

It is both the audit trail and the source of analytics. Rows are only ever
inserted; nothing in the application updates or deletes them.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, ForeignKey, Index, String, select
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
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    type: Mapped[str] = mapped_column(String(64))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id"))
    # Plain columns, not foreign keys: the kernel knows no context's tables.
    offering_id: Mapped[int | None]
    request_id: Mapped[int | None]
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    actor: Mapped[User | None] = relationship("User", lazy="joined")


def record(
    session: Session,
    *,
    type: str,
    actor_id: int | None,
    offering_id: int | None = None,
    request_id: int | None = None,
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
        data=data or {},
    )
    session.add(event)
    return event


def for_request(session: Session, *, request_id: int) -> list[Event]:
    statement = (
        select(Event).where(Event.request_id == request_id).order_by(Event.occurred_at, Event.id)
    )
    return list(session.scalars(statement))
