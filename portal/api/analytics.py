"""Analytics in the JSON API."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from servicebay.analytics import adoption
from servicebay.portal.deps import ApiUser, DbSession

router = APIRouter(prefix="/analytics", tags=["analytics"])


class AdoptionOut(BaseModel):
    offering: str
    name: str
    owner_team: str
    views: int
    submitted: int
    completed: int
    unique_requesters: int


@router.get("/adoption", response_model=list[AdoptionOut])
def adoption_per_offering(db: DbSession, user: ApiUser) -> list[AdoptionOut]:
    return [
        AdoptionOut(
            offering=row.offering_slug,
            name=row.offering_name,
            owner_team=row.owner_team,
            views=row.views,
            submitted=row.submitted,
            completed=row.completed,
            unique_requesters=row.unique_requesters,
        )
        for row in adoption.adoption(db)
    ]
