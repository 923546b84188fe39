"""Tables of the requests context: requests, fulfilment runs and their log."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from servicebay.catalog.models import Offering, OfferingVersion
from servicebay.core.database import Base, UTCDateTime
from servicebay.core.identity import User


class RequestStatus(StrEnum):
    SUBMITTED = "submitted"
    PENDING_APPROVAL = "pending_approval"
    REJECTED = "rejected"
    IN_FULFILMENT = "in_fulfilment"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    WAITING = "waiting"
    SUCCEEDED = "succeeded"
    DEAD = "dead"
    CANCELLED = "cancelled"


class Request(Base):
    __tablename__ = "requests_request"
    __table_args__ = (Index("ix_requests_request_requester_id_status", "requester_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    offering_id: Mapped[int] = mapped_column(ForeignKey("catalog_offering.id"), index=True)
    offering_version_id: Mapped[int] = mapped_column(ForeignKey("catalog_offering_version.id"))
    requester_id: Mapped[int] = mapped_column(ForeignKey("core_user.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("core_team.id"))
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    outputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(24))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    offering: Mapped[Offering] = relationship(lazy="joined")
    version: Mapped[OfferingVersion] = relationship(lazy="joined")
    requester: Mapped[User] = relationship(lazy="joined")


class FulfilmentRun(Base):
    """One fulfilment of a request. ``attempt`` is the fencing token of each try."""

    __tablename__ = "requests_fulfilment_run"
    __table_args__ = (Index("ix_requests_fulfilment_run_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests_request.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    attempt: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=5)
    rescues: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    callback_token_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)

    request: Mapped[Request] = relationship()


class RunLogLine(Base):
    __tablename__ = "requests_run_log_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("requests_fulfilment_run.id"), index=True)
    attempt: Mapped[int]
    logged_at: Mapped[datetime] = mapped_column(UTCDateTime)
    level: Mapped[str] = mapped_column(String(8))
    message: Mapped[str] = mapped_column(Text)
