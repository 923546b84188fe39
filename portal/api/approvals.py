"""The approver's inbox and decisions in the JSON API."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from servicebay.portal.deps import ApiUser, DbSession, require_scope
from servicebay.requests import approvals
from servicebay.requests.models import Approval
from servicebay.requests.schemas import ApprovalOut

router = APIRouter(tags=["approvals"])


class DecisionIn(BaseModel):
    decision: Literal["approve", "reject"]
    reason: str = Field(default="", max_length=2000)


@router.get("/approvals", response_model=list[ApprovalOut])
def approval_inbox(db: DbSession, user: ApiUser) -> list[Approval]:
    """The steps waiting for your decision now."""
    return approvals.inbox(db, user=user)


@router.post("/approvals/{approval_id}/decision", response_model=ApprovalOut)
def decide(
    approval_id: int, body: DecisionIn, request: Request, db: DbSession, user: ApiUser
) -> Approval:
    """Approve or reject (a rejection needs a reason and ends the request). A step of a
    request you may not see answers 404, as one that does not exist."""
    require_scope(request, "request")
    return approvals.decide(
        db,
        actor=user,
        approval_id=approval_id,
        approve=body.decision == "approve",
        reason=body.reason,
    )
