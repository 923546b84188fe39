"""The ops workspace: the team board (manual tasks with WIP limits, failed runs with retry),
the team's offerings with readiness, and demand triage."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from servicebay.catalog import demand as demand_service
from servicebay.catalog import readiness
from servicebay.catalog import service as catalog_service
from servicebay.catalog.demand import Demand, DemandState
from servicebay.catalog.errors import (
    CatalogError,
    CatalogPermissionDenied,
    DemandConflict,
    InvalidDemand,
    InvalidOffering,
    OfferingConflict,
)
from servicebay.catalog.models import Offering
from servicebay.catalog.schemas import OfferingIn
from servicebay.core.identity import Role, Team, User
from servicebay.portal.deps import DbSession, PageUser, SubmittedForm
from servicebay.portal.pages.paging import paginate_list
from servicebay.portal.render import render, see_other
from servicebay.requests import service as requests_service
from servicebay.requests import tasks
from servicebay.requests.errors import TransitionNotAllowed, WipLimitReached
from servicebay.requests.models import TaskStatus

router = APIRouter(prefix="/ops")
COLUMN_TITLES = {"todo": "To do", "doing": "Doing", "done": "Done"}
DONE_SHOWN = 10


def teams_of(db: Session, user: User) -> list[Team]:
    """The teams whose workspace the user may open, teams that own offerings first."""
    owners = set(db.scalars(select(Offering.owner_team_id).distinct()))
    if user.is_admin:
        teams = list(db.scalars(select(Team).where(Team.id.in_(owners or {-1}))))
    else:
        teams = [membership.team for membership in user.memberships]
    return sorted(teams, key=lambda team: (team.id not in owners, team.name))


def _chosen(db: Session, user: User, slug: str) -> Team | None:
    teams = teams_of(db, user)
    return next((team for team in teams if team.slug == slug), teams[0] if teams else None)


@router.get("", name="ops_board")
def ops_board(request: Request, db: DbSession, user: PageUser, team: str = "") -> Response:
    chosen = _chosen(db, user, team)
    context: dict[str, Any] = {"teams": teams_of(db, user), "team": chosen}
    if chosen is not None:
        columns = tasks.board(db, team_id=chosen.id)
        columns["done"] = columns["done"][-DONE_SHOWN:][::-1]
        offerings = db.scalars(catalog_service.for_ops(user, team_id=chosen.id)).all()
        context |= {
            "columns": columns,
            "titles": COLUMN_TITLES,
            "limits": tasks.wip_limits(db, team_id=chosen.id),
            "failed": requests_service.failed_for_team(db, team_id=chosen.id),
            "offerings": [
                (offering, readiness.assess(offering, catalog_service.head_version(db, offering)))
                for offering in offerings
            ],
            "new_demands": _open_demand_count(db),
            "is_lead": user.is_admin or user.role_in(chosen.id) is Role.LEAD,
        }
    return render(request, "requests/board.html", context)


def _open_demand_count(db: Session) -> int:
    statement = select(func.count(Demand.id)).where(Demand.state == DemandState.NEW.value)
    return int(db.scalar(statement) or 0)


def outputs_from_text(text: str) -> dict[str, str]:
    """``key: value`` lines as a task's outputs; a line without a key is kept as ``note``."""
    outputs: dict[str, str] = {}
    for line in text.splitlines():
        key, separator, value = line.partition(":")
        if not line.strip():
            continue
        if separator and re.fullmatch(r"[A-Za-z][\w -]{0,60}", key.strip()):
            outputs[key.strip().lower().replace(" ", "_")] = value.strip()
        else:
            outputs["note"] = (outputs.get("note", "") + " " + line.strip()).strip()
    return outputs


@router.post("/tasks/{task_id}/advance", name="ops_task_advance")
def ops_task_advance(
    request: Request, task_id: int, db: DbSession, user: PageUser, data: SubmittedForm
) -> Response:
    task = tasks.get_for_member(db, task_id=task_id, actor=user)
    target = _team_board(request, db, task.team_id)
    try:
        moved = tasks.advance(
            db,
            actor=user,
            task_id=task_id,
            override_wip=data.get("override") == "on",
            outputs=outputs_from_text(str(data.get("outputs") or "")),
            notes=str(data.get("notes") or ""),
        )
    except (WipLimitReached, TransitionNotAllowed) as refused:
        db.rollback()
        return see_other(request, target, notice=str(refused).capitalize() + ".", kind="error")
    where = COLUMN_TITLES[moved.status].lower()
    return see_other(request, target, notice=f"Request #{moved.request_id} moved to {where}.")


@router.post("/wip-limits", name="ops_wip_limits")
def ops_wip_limits(
    request: Request, db: DbSession, user: PageUser, data: SubmittedForm
) -> Response:
    """A team sets how many tasks each column may hold; empty means no limit."""
    chosen = _chosen(db, user, str(data.get("team") or ""))
    if chosen is None:
        return see_other(request, str(request.url_for("ops_board")))
    target = _team_board(request, db, chosen.id)
    for column in (TaskStatus.TODO, TaskStatus.DOING):
        raw = str(data.get(column.value) or "").strip()
        if raw and not (raw.isdigit() and int(raw) > 0):
            notice = "A WIP limit is a whole number above zero, or empty for none."
            return see_other(request, target, notice=notice, kind="error")
        limit = int(raw) if raw else None
        tasks.set_wip_limit(db, actor=user, team_id=chosen.id, status=column, max_tasks=limit)
    return see_other(request, target, notice="WIP limits saved.")


@router.post("/requests/{request_id}/retry", name="ops_request_retry")
def ops_request_retry(request: Request, request_id: int, db: DbSession, user: PageUser) -> Response:
    run = requests_service.retry(db, actor=user, request_id=request_id)
    target = _team_board(request, db, run.request.offering.owner_team_id)
    return see_other(request, target, notice=f"Request #{request_id} is being retried.")


def _team_board(request: Request, db: Session, team_id: int) -> str:
    team = db.get(Team, team_id)
    base = str(request.url_for("ops_board"))
    return f"{base}?team={team.slug}" if team else base


# --- demand triage -------------------------------------------------------------------


@router.get("/demand", name="ops_demand")
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
    open_demands = [
        d
        for d in demand_service.list_demands(db, limit=1000)
        if d.state in (DemandState.NEW.value, DemandState.ACCEPTED.value, DemandState.PLANNED.value)
    ]
    paged = paginate_list(open_demands, number=page, base=str(request.url_for("ops_demand")))
    lead_teams = [
        team for team in teams_of(db, user) if user.is_admin or user.role_in(team.id) is Role.LEAD
    ]
    context = {
        "paged": paged,
        "all_open": open_demands,
        "lead_teams": lead_teams,
        "can_triage": {d.id: demand_service.can_triage(user, d) for d in paged.rows},
        "offering_slugs": {
            d.offering_id: slug
            for d in paged.rows
            if d.offering_id
            and (slug := db.scalar(select(Offering.slug).where(Offering.id == d.offering_id)))
        },
        "problems": problems or {},
    }
    return render(
        request, "catalog/demand_triage.html", context, status_code=422 if problems else 200
    )


def draft_slug(db: Session, title: str) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:50].strip("-") or "offering"
    slug, number = base, 1
    while db.scalar(select(Offering.id).where(Offering.slug == slug)) is not None:
        number += 1
        slug = f"{base}-{number}"
    return slug


@router.post("/demand/{demand_id}/accept", name="ops_demand_accept")
def ops_demand_accept(
    request: Request, demand_id: int, db: DbSession, user: PageUser, data: SubmittedForm
) -> Response:
    """Accept a demand and start the offering that answers it as a draft of the chosen team."""
    found = demand_service.get(db, demand_id=demand_id)
    if not demand_service.can_triage(user, found):
        raise CatalogPermissionDenied("only a lead of the team it is addressed to may triage it")
    try:
        definition = OfferingIn.model_validate(
            {
                "slug": draft_slug(db, found.title),
                "name": found.title[:200],
                "summary": found.description.strip()[:500],
                "description": found.description,
                "owner_team": str(data.get("team") or ""),
                "fulfilment": {"kind": "manual"},
            }
        )
        offering = catalog_service.create_offering(db, actor=user, definition=definition)
        demand_service.triage(
            db,
            actor=user,
            demand=found,
            state=DemandState.ACCEPTED.value,
            offering_slug=offering.slug,
        )
    except (
        InvalidOffering,
        OfferingConflict,
        DemandConflict,
        InvalidDemand,
        ValidationError,
    ) as refused:
        db.rollback()
        return _triage_page(request, db, user, problems={demand_id: _said(refused)})
    target = str(request.url_for("ops_offering_edit", slug=offering.slug))
    notice = f"Demand accepted: “{offering.name}” is a draft offering of your team now."
    return see_other(request, target, notice=notice)


def _said(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return "; ".join(f"{k}: {v}" for k, v in catalog_service.problems_of(error).items())
    return str(error)


@router.post("/demand/{demand_id}/decline", name="ops_demand_decline")
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
    target = str(request.url_for("ops_demand"))
    return see_other(request, target, notice=f"Demand #{demand_id} declined.")


@router.post("/demand/{demand_id}/merge", name="ops_demand_merge")
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
    target = str(request.url_for("ops_demand"))
    notice = f"Demand #{duplicate.id} merged into #{into.id}; its votes count there."
    return see_other(request, target, notice=notice)
