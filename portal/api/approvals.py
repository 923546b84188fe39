"""The approver's inbox and decisions in the JSON API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from servicebay.portal.deps import ApiUser, DbSession, require_scope
from servicebay.requests import approvals
from servicebay.requests.models import Approval

router = APIRouter(tags=["approvals"])


class ApprovalOut(BaseModel):
    id: int
    request_id: int
    offering: str
    requester: str
    step: str
    position: int
    decider: str
    status: str
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None
    inputs: dict[str, object]


class DecisionIn(BaseModel):
    decision: Literal["approve", "reject"]
    reason: str = Field(default="", max_length=2000)


def approval_out(approval: Approval) -> ApprovalOut:
    return ApprovalOut(
        id=approval.id,
        request_id=approval.request_id,
        offering=approval.request.offering.slug,
        requester=approval.request.requester.username,
        step=approval.name,
        position=approval.position,
        decider=approval.decider,
        status=approval.status,
        decided_by=approval.decided_by.username if approval.decided_by else None,
        decided_at=approval.decided_at,
        reason=approval.reason,
        inputs=dict(approval.request.inputs),
    )


@router.get("/approvals", response_model=list[ApprovalOut])
def approval_inbox(db: DbSession, user: ApiUser) -> list[ApprovalOut]:
    """The steps waiting for your decision now."""
    return [approval_out(a) for a in approvals.inbox(db, user=user)]


@router.post("/approvals/{approval_id}/decision", response_model=ApprovalOut)
def decide(
    approval_id: int, body: DecisionIn, request: Request, db: DbSession, user: ApiUser
) -> ApprovalOut:
    """Approve or reject (a rejection needs a reason and ends the request)."""
    require_scope(request, "request")
    decided = approvals.decide(
        db,
        actor=user,
        approval_id=approval_id,
        approve=body.decision == "approve",
        reason=body.reason,
    )
    return approval_out(decided)
