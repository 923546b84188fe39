"""Analytics tables: the daily roll-up of the Event log and how far it has read.

Analytics writes only these tables; it reads the other contexts' tables and never
writes them.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from servicebay.core.database import Base, UTCDateTime
from servicebay.requests.models import Request

# Adoption reads submissions per offering and period straight from the requests table;
# on PostgreSQL the index covers the columns it counts, so the table is not visited.
Index(
    "ix_requests_request_offering_id_submitted_at",
    Request.offering_id,
    Request.submitted_at,
    postgresql_include=["requester_id", "team_id"],
)


class DailyCount(Base):
    """Per UTC day, offering and event type: how many events (and for ratings their sum)."""

    __tablename__ = "analytics_daily_count"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    offering_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(64), primary_key=True)
    events: Mapped[int] = mapped_column(default=0)
    total: Mapped[int] = mapped_column(default=0)


class RollupState(Base):
    """How far the roll-up has read the Event log."""

    __tablename__ = "analytics_rollup_state"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_event_id: Mapped[int] = mapped_column(default=0)
    judged_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TeamDigest(Base):
    """A team's retrospective digest: how often it comes (days), and the last window sent."""

    __tablename__ = "analytics_team_digest"

    team_id: Mapped[int] = mapped_column(
        ForeignKey("core_team.id", ondelete="CASCADE"), primary_key=True
    )
    cadence_days: Mapped[int] = mapped_column(default=7)
    # The last day of the last window sent; a window is sent once.
    sent_through: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RequestFlowRow(Base):
    """One request's flow facts, replayed from all its events the roll-up has read
    (analytics/flow_rollup.py): what the flow views read instead of the Event log.

    The stage hours leave out the time in the current status (``status_since`` onwards):
    a read adds it up to the end of its own period.
    """

    __tablename__ = "analytics_request_flow"
    __table_args__ = (Index("ix_analytics_request_flow_request_closed_at", "request_closed_at"),)

    request_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    offering_id: Mapped[int] = mapped_column(Integer)
    # The request's own columns and its pinned version's promise, as the last replay saw
    # them: which periods see the request (flow.load), read without the requests table.
    request_submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    request_closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sle_hours: Mapped[float | None] = mapped_column(Float)
    effort_minutes: Mapped[int] = mapped_column(default=0)
    imported: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(32))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The latest of the events replayed: a period ending after it sees them all.
    last_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    manual_tasks: Mapped[int] = mapped_column(default=0)
    first_outcome_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_outcome_success: Mapped[bool | None] = mapped_column()
    approval_hours: Mapped[float] = mapped_column(Float, default=0.0)
    queue_hours: Mapped[float] = mapped_column(Float, default=0.0)
    fulfilment_hours: Mapped[float] = mapped_column(Float, default=0.0)
    recovery_hours: Mapped[float] = mapped_column(Float, default=0.0)
    # Each recovery from a failure: [completed at (ISO 8601), hours since the failure].
    recoveries: Mapped[list[Any]] = mapped_column(JSON, default=list)
