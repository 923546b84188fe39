"""What the requests context answers: output models read from its rows' attributes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AliasPath, BaseModel, ConfigDict, Field

from servicebay.catalog.schemas import OfferingOut


class Out(BaseModel):
    # A default (for a missing relation) does not make an answer's field optional.
    model_config = ConfigDict(
        from_attributes=True, json_schema_serialization_defaults_required=True
    )


class RequestOut(Out):
    id: int
    offering: str = Field(validation_alias=AliasPath("offering", "slug"))
    offering_version: int = Field(validation_alias=AliasPath("version", "number"))
    status: str
    requester: str = Field(validation_alias=AliasPath("requester", "username"))
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    submitted_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    rating: int | None
    rating_comment: str | None
    instance_id: int | None = None
    operation: str | None = None


class EventOut(Out):
    id: int
    type: str
    occurred_at: datetime
    actor: str | None = Field(validation_alias=AliasPath("actor", "username"), default=None)
    data: dict[str, Any]


class AttemptOut(Out):
    attempt: int
    status: str
    worker: str
    started_at: datetime
    finished_at: datetime | None
    error: str | None


class LogLineOut(Out):
    attempt: int
    logged_at: datetime
    level: str
    message: str


class RunOut(Out):
    id: int
    status: str
    attempt: int
    max_attempts: int
    next_attempt_at: datetime
    last_error: str | None
    step: int = 0  # its pipeline step, from 0
    step_name: str = "fulfil"
    outputs: dict[str, Any] | None = None  # what the step gave back, once it succeeded
    attempts: list[AttemptOut] = Field(default_factory=list)
    log: list[LogLineOut] = Field(default_factory=list)


class ApprovalStepOut(Out):
    """One step of a request's approval, as the request's own approvals list shows it."""

    id: int
    step: str = Field(validation_alias="name")
    position: int
    status: str
    decided_by: str | None = Field(
        validation_alias=AliasPath("decided_by", "username"), default=None
    )
    decided_at: datetime | None
    reason: str | None


class CommentOut(Out):
    id: int
    author: str = Field(validation_alias=AliasPath("author", "username"))
    body: str
    created_at: datetime


class NotificationOut(Out):
    id: int
    request_id: int | None
    demand_id: int | None
    message: str
    created_at: datetime


class TaskOut(Out):
    id: int
    request_id: int
    offering: str = Field(validation_alias=AliasPath("request", "offering", "slug"))
    status: str
    assignee: str | None = Field(validation_alias=AliasPath("assignee", "username"), default=None)
    checklist: list[dict[str, Any]]
    notes: str


class BoardOut(Out):
    team: str
    columns: dict[str, list[TaskOut]]
    wip_limits: dict[str, int]
    failed: list[RequestOut]


class ApprovalOut(Out):
    """A step waiting for (or given) a decision, with what was asked and who asks."""

    id: int
    request_id: int
    offering: str = Field(validation_alias=AliasPath("request", "offering", "slug"))
    requester: str = Field(validation_alias=AliasPath("request", "requester", "username"))
    step: str = Field(validation_alias="name")
    position: int
    decider: str
    status: str
    decided_by: str | None = Field(
        validation_alias=AliasPath("decided_by", "username"), default=None
    )
    decided_at: datetime | None
    reason: str | None
    inputs: dict[str, object] = Field(validation_alias=AliasPath("request", "inputs"))


class RequestStoryOut(BaseModel):
    """A request with all that happened to it, as the agent tools read it."""

    request: RequestOut
    timeline: list[EventOut]
    approvals: list[ApprovalStepOut]
    runs: list[RunOut]
    comments: list[CommentOut]


class OfferingDescription(BaseModel):
    """What a requester reads before asking: the offering (approval steps, service level,
    cost and quota among it), its form as JSON Schema, and what is left of the quota."""

    offering: OfferingOut
    form_schema: dict[str, Any] = Field(description="The request form as JSON Schema")
    requesting_team: str | None = Field(description="The team a request would count for")
    quota_left: int | None = Field(
        description="Requests the team may still make in the quota period; null: no quota"
    )


class OperationOut(BaseModel):
    """A day-2 operation as one viewer may run it on one instance."""

    name: str
    title: str
    description: str
    retires: bool
    allowed: bool
    refused_because: str = Field(description="Why it cannot be run now; empty when it can")
    form_schema: dict[str, Any]
    prefilled: dict[str, Any]


class InstanceOut(Out):
    id: int
    name: str
    offering: str = Field(validation_alias=AliasPath("offering", "slug"))
    offering_version: int = Field(validation_alias=AliasPath("version", "number"))
    owner: str = Field(validation_alias=AliasPath("owner", "username"))
    team_id: int | None
    request_id: int = Field(description="The request that made it")
    state: str
    spec: dict[str, Any]
    outputs: dict[str, Any]
    busy_request_id: int | None = Field(description="The operation request open on it")
    last_failure: str | None
    created_at: datetime
    updated_at: datetime
    retired_at: datetime | None
    expires_at: datetime | None = Field(description="When its lease ends; null: never")


class InstanceStoryOut(BaseModel):
    instance: InstanceOut
    operations: list[OperationOut]
    timeline: list[EventOut]
    requests: list[RequestOut]
