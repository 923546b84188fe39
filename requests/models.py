"""Tables of the requests context: requests, approvals, fulfilment runs and their log,
tasks, comments, notifications, Idempotency-Keys and imported history."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from servicebay.catalog import forms
from servicebay.catalog import service as catalog_service
from servicebay.catalog.models import Offering, OfferingVersion
from servicebay.core.database import Base, UTCDateTime
from servicebay.core.identity import User
from servicebay.core.logs import current_correlation_id


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


class RunKind(StrEnum):
    FULFIL = "fulfil"
    EMAIL = "email"
    CHAT = "chat"
    CANCEL = "cancel"  # tells a step's receiver that its request was cancelled


class AttemptStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    ACCEPTED = "accepted"
    FAILED = "failed"
    LEASE_EXPIRED = "lease_expired"
    CANCELLED = "cancelled"


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    SKIPPED = "skipped"


class TaskStatus(StrEnum):
    TODO = "todo"
    DOING = "doing"
    DONE = "done"


class InstanceState(StrEnum):
    PROVISIONING = "provisioning"
    ACTIVE = "active"
    UPDATING = "updating"
    FAILED = "failed"
    RETIRING = "retiring"
    RETIRED = "retired"


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
    rating: Mapped[int | None]
    rating_comment: Mapped[str | None] = mapped_column(Text)
    rated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The instance the request made, or the instance a day-2 operation runs on (then
    # ``operation`` names the operation of the pinned version).
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("requests_instance.id"), index=True)
    operation: Mapped[str | None] = mapped_column(String(64))

    offering: Mapped[Offering] = relationship(lazy="joined")
    version: Mapped[OfferingVersion] = relationship(lazy="joined")
    requester: Mapped[User] = relationship(lazy="joined")

    @property
    def shown_inputs(self) -> list[forms.ShownInput]:
        """The answers under the labels of the form they were given to (the pinned version)."""
        return forms.shown_inputs(catalog_service.form_of(self.version), self.inputs or {})


class Instance(Base):
    """What a fulfilled request made (requests/instances.py holds its rules)."""

    __tablename__ = "requests_instance"
    __table_args__ = (
        Index("ix_requests_instance_owner_id_state", "owner_id", "state"),
        Index("ix_requests_instance_team_id_state", "team_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    offering_id: Mapped[int] = mapped_column(ForeignKey("catalog_offering.id"), index=True)
    offering_version_id: Mapped[int] = mapped_column(ForeignKey("catalog_offering_version.id"))
    owner_id: Mapped[int] = mapped_column(ForeignKey("core_user.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("core_team.id"))
    # The request that made it. No database foreign key: request and instance refer to
    # each other (as offering and version do).
    request_id: Mapped[int]
    outputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16))
    # The operation request that holds the instance until it closes (one at a time).
    busy_request_id: Mapped[int | None]
    # Why the last operation failed, until one succeeds (the instance is as it was).
    last_failure: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Its lease, when the offering gives instances a lifetime (requests/expiry.py).
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # The reminders sent for the current expiry, as days before it (emptied on extension).
    reminders_sent: Mapped[list[int]] = mapped_column(JSON, default=list)
    # When expiry asked for its decommission: it is asked once.
    expiry_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    offering: Mapped[Offering] = relationship(lazy="joined")
    version: Mapped[OfferingVersion] = relationship(lazy="joined")
    owner: Mapped[User] = relationship(lazy="joined")


class FulfilmentRun(Base):
    """One fulfilment of a request, or one email (about a request, or about a demand: those
    have no request). ``attempt`` is the fencing token of each try."""

    __tablename__ = "requests_fulfilment_run"
    __table_args__ = (
        Index("ix_requests_fulfilment_run_due", "status", "next_attempt_at"),
        # The runs of a stopped worker, found by its id when its heartbeat is too old.
        Index("ix_requests_fulfilment_run_lease_owner", "lease_owner", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests_request.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default=RunKind.FULFIL.value)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
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
    # The id of the HTTP request that created the run, so its logs can be followed into it.
    correlation_id: Mapped[str | None] = mapped_column(String(64), default=current_correlation_id)
    # The pipeline step the run fulfils (its position from 0, and its name), and what the
    # step gave back once it succeeded.
    step: Mapped[int] = mapped_column(default=0, server_default="0")
    step_name: Mapped[str] = mapped_column(String(64), default="fulfil", server_default="fulfil")
    outputs: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    request: Mapped[Request] = relationship()


class WorkerHeartbeat(Base):
    """A running worker process: written every heartbeat, removed when it stops cleanly.

    A run whose lease owner has a row older than the dead-after setting is taken over by
    another worker without waiting for its lease."""

    __tablename__ = "requests_worker_heartbeat"
    __table_args__ = (Index("ix_requests_worker_heartbeat_beat_at", "beat_at"),)

    id: Mapped[str] = mapped_column(String(100), primary_key=True)  # the worker id
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int]
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RunLogLine(Base):
    __tablename__ = "requests_run_log_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("requests_fulfilment_run.id"), index=True)
    attempt: Mapped[int]
    logged_at: Mapped[datetime] = mapped_column(UTCDateTime)
    level: Mapped[str] = mapped_column(String(8))
    message: Mapped[str] = mapped_column(Text)


class RunAttempt(Base):
    """One try of a run: who worked on it, when, and how it ended."""

    __tablename__ = "requests_run_attempt"
    __table_args__ = (UniqueConstraint("run_id", "attempt"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("requests_fulfilment_run.id"), index=True)
    attempt: Mapped[int]
    worker: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)


class Approval(Base):
    """One step of a request's approval policy and its decision."""

    __tablename__ = "requests_approval"
    __table_args__ = (UniqueConstraint("request_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests_request.id"), index=True)
    position: Mapped[int]
    name: Mapped[str] = mapped_column(String(100))
    decider: Mapped[str] = mapped_column(String(16))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("core_team.id"))
    status: Mapped[str] = mapped_column(String(16), index=True)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    request: Mapped[Request] = relationship()
    decided_by: Mapped[User | None] = relationship(lazy="joined")


class Task(Base):
    """Manual fulfilment: a card on the owner team's board."""

    __tablename__ = "requests_task"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests_request.id"), index=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("core_team.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id"))
    checklist: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    step: Mapped[int] = mapped_column(default=0, server_default="0")  # its pipeline step
    outputs: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # given when it is done

    request: Mapped[Request] = relationship(lazy="joined")
    assignee: Mapped[User | None] = relationship(lazy="joined")


class WipLimit(Base):
    __tablename__ = "requests_wip_limit"
    __table_args__ = (UniqueConstraint("team_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("core_team.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    max_tasks: Mapped[int]


class Comment(Base):
    __tablename__ = "requests_comment"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests_request.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("core_user.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    author: Mapped[User] = relationship(lazy="joined")


class Notification(Base):
    """An in-app notice to one person about one request or one demand."""

    __tablename__ = "requests_notification"
    __table_args__ = (Index("ix_requests_notification_user_id_read_at", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"))
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests_request.id"))
    demand_id: Mapped[int | None] = mapped_column(
        ForeignKey("catalog_demand.id", ondelete="CASCADE")
    )
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ImportedCase(Base):
    """One case of an imported event log and the request it became."""

    __tablename__ = "requests_imported_case"
    __table_args__ = (UniqueConstraint("offering_id", "case_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    offering_id: Mapped[int] = mapped_column(ForeignKey("catalog_offering.id"))
    case_key: Mapped[str] = mapped_column(String(200))
    request_id: Mapped[int] = mapped_column(ForeignKey("requests_request.id"))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime)
