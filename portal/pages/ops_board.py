"""The ops workspace: the team board (manual tasks with WIP limits, failed runs with retry)
and the team's offerings with readiness. Demand triage is in pages/demand.py."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from servicebay.catalog import demand as demand_service
from servicebay.catalog import readiness
from servicebay.catalog import service as catalog_service
from servicebay.catalog.models import Offering
from servicebay.core.identity import Role, Team, User
from servicebay.portal.deps import DbSession, PageUser, SubmittedForm
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
            "new_demands": demand_service.count_new(db),
            "is_lead": user.is_admin or user.role_in(chosen.id) is Role.LEAD,
        }
    return render(request, "requests/board.html", context)


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
