"""Analytics tables: the daily roll-up of the Event log and how far it has read.

Analytics writes only these tables; it reads the other contexts' tables and never
writes them.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String
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
