"""Demand in the JSON API: ask for what the catalog lacks, vote, triage."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from servicebay.catalog import demand as demand_service
from servicebay.catalog.demand import Demand, DemandState, Urgency
from servicebay.catalog.schemas import DESCRIPTION_MAX, REASON_MAX, SLUG_MAX
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


class DemandOut(BaseModel):
    id: int
    title: str
    description: str
    urgency: str
    state: str
    decline_reason: str
    votes: int
    offering_id: int | None
    team_id: int | None
    created_at: datetime

    @classmethod
    def of(cls, demand: Demand) -> DemandOut:
        return cls(
            id=demand.id,
            title=demand.title,
            description=demand.description,
            urgency=demand.urgency,
            state=demand.state,
            decline_reason=demand.decline_reason,
            votes=demand.votes,
            offering_id=demand.offering_id,
            team_id=demand.team_id,
            created_at=demand.created_at,
        )


@router.get("", response_model=list[DemandOut])
def list_demands(
    db: DbSession, user: ApiUser, state: Annotated[DemandState | None, Query()] = None
) -> list[DemandOut]:
    """Demands, most votes first, then oldest first."""
    found = demand_service.list_demands(db, state=state.value if state else None)
    return [DemandOut.of(demand) for demand in found]


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
    return DemandOut.of(demand)


@router.get("/{demand_id}", response_model=DemandOut)
def get_demand(demand_id: int, db: DbSession, user: ApiUser) -> DemandOut:
    return DemandOut.of(demand_service.get(db, demand_id=demand_id))


@router.post("/{demand_id}/vote", response_model=DemandOut)
def vote(demand_id: int, db: DbSession, user: ApiUser, request: Request) -> DemandOut:
    """One vote per person; voting again changes nothing."""
    require_scope(request, "request")
    demand = demand_service.get(db, demand_id=demand_id)
    return DemandOut.of(demand_service.vote(db, actor=user, demand=demand))


@router.post("/{demand_id}/triage", response_model=DemandOut)
def triage(
    demand_id: int, body: TriageIn, db: DbSession, user: ApiUser, request: Request
) -> DemandOut:
    """new → accepted → planned → shipped, or declined with a reason (team leads)."""
    require_scope(request, "ops")
    demand = demand_service.get(db, demand_id=demand_id)
    triaged = demand_service.triage(
        db,
        actor=user,
        demand=demand,
        state=body.state.value,
        reason=body.reason,
        offering_slug=body.offering,
    )
    return DemandOut.of(triaged)
