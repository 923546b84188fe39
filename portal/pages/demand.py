"""Demand: tell the catalog what it lacks, and vote for what others asked."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from servicebay.catalog import demand as demand_service
from servicebay.catalog.demand import Demand, DemandState, DemandVote, Urgency
from servicebay.catalog.errors import InvalidDemand
from servicebay.core.identity import User
from servicebay.portal.deps import DbSession, PageUser, SubmittedForm
from servicebay.portal.pages.paging import paginate
from servicebay.portal.render import render, see_other

router = APIRouter()
# Everyone sees open and shipped needs; the author also sees why theirs was declined.
SHOWN_STATES = [
    DemandState.NEW.value,
    DemandState.ACCEPTED.value,
    DemandState.PLANNED.value,
    DemandState.SHIPPED.value,
]


@router.get("/demand", name="demands")
def demands_page(
    request: Request, db: DbSession, user: PageUser, title: str = "", page: int = 1
) -> Response:
    return _page(request, db, user, values={"title": title[:200]}, page=page)


def _page(
    request: Request,
    db: Session,
    user: User,
    *,
    values: dict[str, str],
    problems: dict[str, str] | None = None,
    page: int = 1,
) -> Response:
    statement = (
        select(Demand)
        .where(or_(Demand.state.in_(SHOWN_STATES), Demand.author_id == user.id))
        .order_by(Demand.votes.desc(), Demand.created_at.desc(), Demand.id.desc())
    )
    paged = paginate(db, statement, number=page, base=str(request.url_for("demands")))
    context = {
        "paged": paged,
        "voted": voted_by(db, user),
        "values": values,
        "problems": problems or {},
        "urgencies": [u.value for u in Urgency],
    }
    return render(
        request, "catalog/demand_list.html", context, status_code=422 if problems else 200
    )


def voted_by(db: Session, user: User) -> set[int]:
    return set(db.scalars(select(DemandVote.demand_id).where(DemandVote.user_id == user.id)))


@router.post("/demand", name="demand_create")
def demand_create(request: Request, db: DbSession, user: PageUser, data: SubmittedForm) -> Response:
    values = {key: str(data.get(key) or "") for key in ("title", "description", "urgency")}
    try:
        created = demand_service.create(
            db,
            actor=user,
            title=values["title"],
            description=values["description"].strip(),
            urgency=values["urgency"] or Urgency.NORMAL.value,
        )
    except InvalidDemand as invalid:
        db.rollback()
        return _page(request, db, user, values=values, problems=invalid.problems)
    target = str(request.url_for("demands")) + f"#demand-{created.id}"
    notice = "Thank you: your need is recorded, and the ops teams will look at it."
    return see_other(request, target, notice=notice)


@router.post("/demand/{demand_id}/vote", name="demand_vote")
def demand_vote(request: Request, demand_id: int, db: DbSession, user: PageUser) -> Response:
    found = demand_service.get(db, demand_id=demand_id)
    demand_service.vote(db, actor=user, demand=found)
    target = str(request.url_for("demands")) + f"#demand-{found.id}"
    return see_other(request, target, notice=f"You voted for “{found.title}”.")
