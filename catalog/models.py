"""Catalog tables: offerings and their versions, demands and their votes, and the
catalog's change token."""

from __future__ import annotations

import secrets
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, Session, UOWTransaction, mapped_column, relationship

from servicebay.core.crypto import EncryptedText
from servicebay.core.database import Base, UTCDateTime, insert_or_update
from servicebay.core.identity import Team


class Offering(Base):
    __tablename__ = "catalog_offering"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(String(500), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(100), default="General")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Other words people search for it by, set by the owner team ("k8s", "db").
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    owner_team_id: Mapped[int] = mapped_column(ForeignKey("core_team.id"))
    contact: Mapped[str] = mapped_column(String(200), default="")
    runbook_url: Mapped[str] = mapped_column(String(500), default="")
    work_kind: Mapped[str] = mapped_column(String(16), default="standard")
    status: Mapped[str] = mapped_column(String(16), default="draft")
    # Empty: everyone may see it; otherwise only members of these teams (and its owners).
    visible_team_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    replacement_slug: Mapped[str | None] = mapped_column(String(64))
    deprecation_notice: Mapped[str] = mapped_column(Text, default="")
    # No database foreign key: offering and version refer to each other, and a
    # cycle of constraints cannot be created in one step on every database.
    current_version_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    owner_team: Mapped[Team] = relationship(lazy="joined")
    current_version: Mapped[OfferingVersion | None] = relationship(
        primaryjoin="foreign(Offering.current_version_id) == OfferingVersion.id",
        lazy="joined",
        post_update=True,
    )


class OfferingVersion(Base):
    """One definition of an offering. Immutable once published."""

    __tablename__ = "catalog_offering_version"
    __table_args__ = (UniqueConstraint("offering_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    offering_id: Mapped[int] = mapped_column(ForeignKey("catalog_offering.id", ondelete="CASCADE"))
    number: Mapped[int]
    status: Mapped[str] = mapped_column(String(16), default="draft")
    # What the portal shows (name, summary, description, category, tags, keywords,
    # contact, runbook, work kind, visibility): copied to the offering when the version
    # is published.
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    no_input_needed: Mapped[bool] = mapped_column(default=False)
    form: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    approval_policy: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    fulfilment: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Write-only: never serialised into API answers, pages or logs.
    webhook_secret: Mapped[str | None] = mapped_column(EncryptedText)
    sle_percent: Mapped[float | None]
    sle_hours: Mapped[float | None]
    cost: Mapped[float] = mapped_column(default=0.0)
    manual_effort_minutes: Mapped[int] = mapped_column(default=0)
    # At most quota_count requests per requesting team in any quota_period_days.
    quota_count: Mapped[int | None]
    quota_period_days: Mapped[int | None]
    # Set when a fulfilled request makes an instance: its name field and day-2 operations.
    instances: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The last "Test fulfilment" of this version: passed | failed, and what happened.
    dry_run_status: Mapped[str | None] = mapped_column(String(16))
    dry_run_message: Mapped[str] = mapped_column(Text, default="")
    dry_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    offering: Mapped[Offering] = relationship(foreign_keys=[offering_id])


class DemandState(StrEnum):
    NEW = "new"
    ACCEPTED = "accepted"
    PLANNED = "planned"
    SHIPPED = "shipped"
    DECLINED = "declined"
    MERGED = "merged"  # folded into another demand (merged_into_id), where its votes count


class Urgency(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"


class Demand(Base):
    """A need the catalog does not answer yet (catalog/demand.py holds its rules)."""

    __tablename__ = "catalog_demand"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    urgency: Mapped[str] = mapped_column(String(16), default=Urgency.NORMAL.value)
    state: Mapped[str] = mapped_column(String(16), default=DemandState.NEW.value, index=True)
    decline_reason: Mapped[str] = mapped_column(Text, default="")
    votes: Mapped[int] = mapped_column(default=0)
    author_id: Mapped[int] = mapped_column(ForeignKey("core_user.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("core_team.id"))
    offering_id: Mapped[int | None] = mapped_column(ForeignKey("catalog_offering.id"))
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("catalog_demand.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    merged_into: Mapped[Demand | None] = relationship(remote_side=[id])


class DemandVote(Base):
    __tablename__ = "catalog_demand_vote"
    __table_args__ = (UniqueConstraint("demand_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    demand_id: Mapped[int] = mapped_column(ForeignKey("catalog_demand.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CatalogChange(Base):
    """One row whose token is replaced whenever an offering or a team is written.

    Processes keep what browsing needs from the whole catalog beside the token they
    computed it at (catalog/browse.py) and compute it again once the token has moved.
    """

    __tablename__ = "catalog_change"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(32))


CHANGE_ROW = 1
WATCHED = (Offering, Team)


def replace_change_token(session: Session) -> str:
    """A new token for the catalog, written in the caller's transaction."""
    token = secrets.token_hex(16)
    session.execute(
        insert_or_update(session, CatalogChange)
        .values(id=CHANGE_ROW, token=token)
        .on_conflict_do_update(index_elements=[CatalogChange.id], set_={"token": token})
    )
    return token


@event.listens_for(Session, "before_flush")
def _catalog_written(session: Session, _: UOWTransaction, __: object) -> None:
    written = (*session.new, *session.dirty, *session.deleted)
    if any(isinstance(instance, WATCHED) for instance in written):
        replace_change_token(session)
