"""Demand: tell the catalog what it lacks, vote for what others asked, and triage it."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from servicebay.catalog import demand as demand_service
from servicebay.catalog.errors import (
    CatalogError,
    CatalogPermissionDenied,
    DemandConflict,
    InvalidDemand,
    InvalidOffering,
    OfferingConflict,
    SimilarDemands,
)
from servicebay.catalog.models import Demand, DemandState, Urgency
from servicebay.core.identity import User
from servicebay.portal.deps import DbSession, PageUser, SubmittedForm
from servicebay.portal.pages.paging import paginate, paginate_list
from servicebay.portal.render import render, see_other, url_of

router = APIRouter()


@router.get("/demand", name="demands")
def demands_page(
    request: Request, db: DbSession, user: PageUser, title: str = "", page: int = 1
) -> Response:
    """The list and the form; ``title`` (typed so far) offers the open needs like it, and
    an htmx request while typing gets only those."""
    return _page(request, db, user, values={"title": title[:200]}, page=page, block="similar")


def _page(
    request: Request,
    db: Session,
    user: User,
    *,
    values: dict[str, str],
    problems: dict[str, str] | None = None,
    similar: list[Demand] | None = None,
    page: int = 1,
    block: str | None = None,
) -> Response:
    statement = demand_service.readable(user)
    paged = paginate(db, statement, number=page, base=str(url_of(request, "demands")))
    context = {
        "paged": paged,
        "voted": demand_service.voted_by(db, voter=user),
        "offering_slugs": demand_service.answering_slugs(db, paged.rows),
        "values": values,
        "problems": problems or {},
        "similar": similar
        if similar is not None
        else demand_service.similar_open(db, title=values.get("title", "")),
        "confirming": similar is not None,
        "urgencies": [u.value for u in Urgency],
    }
    return render(
        request,
        "catalog/demand_list.html",
        context,
        block=block,
        status_code=422 if problems else 200,
    )


@router.post("/demand", name="demand_create")
def demand_create(request: Request, db: DbSession, user: PageUser, data: SubmittedForm) -> Response:
    """File a need; one like an open need is first shown beside those ("did you mean
    these?"), and filed when sent again as new."""
    values = {key: str(data.get(key) or "") for key in ("title", "description", "urgency")}
    try:
        created = demand_service.create(
            db,
            actor=user,
            title=values["title"],
            description=values["description"].strip(),
            urgency=values["urgency"] or Urgency.NORMAL.value,
            check_similar=data.get("despite_similar") != "1",
        )
    except InvalidDemand as invalid:
        db.rollback()
        return _page(request, db, user, values=values, problems=invalid.problems)
    except SimilarDemands as alike:
        db.rollback()
        return _page(request, db, user, values=values, similar=alike.similar)
    target = str(url_of(request, "demand_page", demand_id=created.id))
    notice = "Thank you: your need is recorded, and the ops teams will look at it."
    return see_other(request, target, notice=notice)


@router.get("/demand/{demand_id}", name="demand_page")
def demand_page(request: Request, demand_id: int, db: DbSession, user: PageUser) -> Response:
    found = demand_service.get_readable(db, viewer=user, demand_id=demand_id)
    context = {
        "demand": found,
        "voted": demand_service.voted_by(db, voter=user),
        "offering_slugs": demand_service.answering_slugs(db, [found]),
    }
    return render(request, "catalog/demand_detail.html", context)


@router.post("/demand/{demand_id}/vote", name="demand_vote")
def demand_vote(request: Request, demand_id: int, db: DbSession, user: PageUser) -> Response:
    found = demand_service.get_readable(db, viewer=user, demand_id=demand_id)
    demand_service.vote(db, actor=user, demand=found)
    target = str(url_of(request, "demand_page", demand_id=found.id))
    return see_other(request, target, notice=f"You voted for “{found.title}”.")


@router.post("/demand/{demand_id}/vote/withdraw", name="demand_withdraw_vote")
def demand_withdraw_vote(
    request: Request, demand_id: int, db: DbSession, user: PageUser
) -> Response:
    found = demand_service.get_readable(db, viewer=user, demand_id=demand_id)
    demand_service.withdraw_vote(db, actor=user, demand=found)
    target = str(url_of(request, "demand_page", demand_id=found.id))
    return see_other(request, target, notice=f"Your vote for “{found.title}” is taken back.")


# --- triage, in the ops workspace ---------------------------------------------------


@router.get("/ops/demand", name="ops_demand")
def ops_demand(request: Request, db: DbSession, user: PageUser, page: int = 1) -> Response:
    return _triage_page(request, db, user, page=page)


def _triage_page(
    request: Request,
    db: Session,
    user: User,
    *,
    page: int = 1,
    problems: dict[int, str] | None = None,
) -> Response:
    open_demands = demand_service.open_demands(db)
    paged = paginate_list(open_demands, number=page, base=str(url_of(request, "ops_demand")))
    context = {
        "paged": paged,
        "all_open": open_demands,
        "lead_teams": demand_service.draft_teams(db, user),
        "can_triage": {d.id: demand_service.can_triage(db, user, d) for d in paged.rows},
        "offering_slugs": demand_service.answering_slugs(db, paged.rows),
        "problems": problems or {},
    }
    return render(
        request, "catalog/demand_triage.html", context, status_code=422 if problems else 200
    )


@router.post("/ops/demand/{demand_id}/accept", name="ops_demand_accept")
def ops_demand_accept(
    request: Request, demand_id: int, db: DbSession, user: PageUser, data: SubmittedForm
) -> Response:
    """Accept a demand and start the offering that answers it as a draft of the chosen team."""
    found = demand_service.get(db, demand_id=demand_id)
    try:
        offering = demand_service.accept_into_draft(
            db, actor=user, demand=found, team_slug=str(data.get("team") or "")
        )
    except CatalogPermissionDenied:
        raise  # a refusal is 403, not a problem with the form
    except (InvalidOffering, OfferingConflict, DemandConflict, InvalidDemand) as refused:
        db.rollback()
        return _triage_page(request, db, user, problems={demand_id: str(refused)})
    target = str(url_of(request, "ops_offering_edit", slug=offering.slug))
    notice = f"Demand accepted: “{offering.name}” is a draft offering of your team now."
    return see_other(request, target, notice=notice)


@router.post("/ops/demand/{demand_id}/decline", name="ops_demand_decline")
def ops_demand_decline(
    request: Request, demand_id: int, db: DbSession, user: PageUser, data: SubmittedForm
) -> Response:
    found = demand_service.get(db, demand_id=demand_id)
    reason = str(data.get("reason") or "")
    try:
        demand_service.triage(
            db, actor=user, demand=found, state=DemandState.DECLINED.value, reason=reason
        )
    except InvalidDemand:
        db.rollback()
        problem = "Say why it is declined: the people who asked will read it."
        return _triage_page(request, db, user, problems={demand_id: problem})
    target = str(url_of(request, "ops_demand"))
    return see_other(request, target, notice=f"Demand #{demand_id} declined.")


@router.post("/ops/demand/{demand_id}/merge", name="ops_demand_merge")
def ops_demand_merge(
    request: Request, demand_id: int, db: DbSession, user: PageUser, data: SubmittedForm
) -> Response:
    duplicate = demand_service.get(db, demand_id=demand_id)
    try:
        into = demand_service.get(db, demand_id=int(str(data.get("into") or "0")))
        demand_service.merge(db, actor=user, duplicate=duplicate, into=into)
    except CatalogPermissionDenied:
        raise  # a refusal is 403, not a problem with the form
    except (CatalogError, ValueError) as refused:
        db.rollback()
        problem = str(refused) if not isinstance(refused, ValueError) else "Choose a demand."
        return _triage_page(request, db, user, problems={demand_id: problem})
    target = str(url_of(request, "ops_demand"))
    notice = f"Demand #{duplicate.id} merged into #{into.id}; its votes count there."
    return see_other(request, target, notice=notice)
