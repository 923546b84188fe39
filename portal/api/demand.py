"""Demand in the JSON API: ask for what the catalog lacks, vote, triage."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from servicebay.catalog import demand as demand_service
from servicebay.catalog.models import DemandState, Urgency
from servicebay.catalog.schemas import DESCRIPTION_MAX, REASON_MAX, SLUG_MAX, DemandOut
from servicebay.portal.deps import ApiUser, DbSession, require_scope

router = APIRouter(prefix="/demands", tags=["demand"])


class DemandIn(BaseModel):
    title: Annotated[str, Field(min_length=1, max_length=200)]
    description: str = Field(default="", max_length=DESCRIPTION_MAX)
    urgency: Urgency = Urgency.NORMAL
    team: str | None = Field(
        default=None, max_length=SLUG_MAX, description="Slug of the team it is addressed to"
    )


class TriageIn(BaseModel):
    state: DemandState
    reason: str = Field(default="", max_length=REASON_MAX)
    offering: str | None = Field(
        default=None, max_length=SLUG_MAX, description="Slug of the offering that answers it"
    )
    draft_team: str | None = Field(
        default=None,
        max_length=SLUG_MAX,
        description="When accepting: slug of the team whose new draft offering answers it "
        "(named after the demand, as the triage page does)",
    )


@router.get("", response_model=list[DemandOut])
def list_demands(
    db: DbSession, user: ApiUser, state: Annotated[DemandState | None, Query()] = None
) -> list[DemandOut]:
    """The demands you may read (open and shipped ones, and your own declined ones), most
    votes first, then newest first; at most 200."""
    found = demand_service.list_readable(db, viewer=user, state=state.value if state else None)
    return [DemandOut.model_validate(demand) for demand in found]


@router.post("", response_model=DemandOut, status_code=201)
def create_demand(body: DemandIn, db: DbSession, user: ApiUser, request: Request) -> DemandOut:
    require_scope(request, "request")
    demand = demand_service.create(
        db,
        actor=user,
        title=body.title,
        description=body.description,
        urgency=body.urgency.value,
        team_slug=body.team,
    )
    return DemandOut.model_validate(demand)


@router.get("/similar", response_model=list[DemandOut])
def similar_demands(
    db: DbSession, user: ApiUser, title: Annotated[str, Query(max_length=200)]
) -> list[DemandOut]:
    """The open demands most like ``title`` (a need about to be filed): vote for one of
    these instead of filing a near-duplicate. The most alike first; at most five."""
    found = demand_service.similar_open(db, title=title)
    return [DemandOut.model_validate(demand) for demand in found]


@router.get("/{demand_id}", response_model=DemandOut)
def get_demand(demand_id: int, db: DbSession, user: ApiUser) -> DemandOut:
    return DemandOut.model_validate(
        demand_service.get_readable(db, viewer=user, demand_id=demand_id)
    )


@router.post("/{demand_id}/vote", response_model=DemandOut)
def vote(demand_id: int, db: DbSession, user: ApiUser, request: Request) -> DemandOut:
    """One vote per person; voting again changes nothing."""
    require_scope(request, "request")
    demand = demand_service.get_readable(db, viewer=user, demand_id=demand_id)
    return DemandOut.model_validate(demand_service.vote(db, actor=user, demand=demand))


@router.delete("/{demand_id}/vote", response_model=DemandOut)
def withdraw_vote(demand_id: int, db: DbSession, user: ApiUser, request: Request) -> DemandOut:
    """Take your vote back from an open demand; without a vote, nothing changes."""
    require_scope(request, "request")
    demand = demand_service.get_readable(db, viewer=user, demand_id=demand_id)
    return DemandOut.model_validate(demand_service.withdraw_vote(db, actor=user, demand=demand))


@router.post("/{demand_id}/triage", response_model=DemandOut)
def triage(
    demand_id: int, body: TriageIn, db: DbSession, user: ApiUser, request: Request
) -> DemandOut:
    """new → accepted → planned → shipped, or declined with a reason (team leads).

    Accepting with ``draft_team`` starts the answering offering as that team's draft."""
    require_scope(request, "ops")
    demand = demand_service.get(db, demand_id=demand_id)
    if body.state is DemandState.ACCEPTED and body.draft_team:
        demand_service.accept_into_draft(db, actor=user, demand=demand, team_slug=body.draft_team)
        return DemandOut.model_validate(demand)
    triaged = demand_service.triage(
        db,
        actor=user,
        demand=demand,
        state=body.state.value,
        reason=body.reason,
        offering_slug=body.offering,
    )
    return DemandOut.model_validate(triaged)
