"""The owner team's board: manual tasks in columns with WIP limits, and failed requests
with a one-click retry."""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from servicebay.core.identity import Team, User
from servicebay.portal.deps import DbSession, PageUser, SubmittedForm
from servicebay.portal.render import render
from servicebay.requests import service as requests_service
from servicebay.requests import tasks
from servicebay.requests.errors import WipLimitReached
from servicebay.requests.models import TaskStatus

router = APIRouter()


@router.get("/ops", name="ops_home")
def ops_home(request: Request, db: DbSession, user: PageUser) -> Response:
    teams = [m.team for m in user.memberships]
    if not teams:
        raise HTTPException(404, "you are in no team")
    target = request.url_for("team_board", team_slug=teams[0].slug)
    return RedirectResponse(str(target), status_code=303)


@router.get("/ops/teams/{team_slug}/board", name="team_board")
def team_board(request: Request, team_slug: str, db: DbSession, user: PageUser) -> Response:
    return _board(request, db, user, _team(db, user, team_slug))


def _team(db: DbSession, user: User, team_slug: str) -> Team:
    team = db.scalar(select(Team).where(Team.slug == team_slug))
    if team is None or (not user.is_admin and user.role_in(team.id) is None):
        raise HTTPException(404, f"no team {team_slug!r} of yours")
    return team


def _board(
    request: Request,
    db: DbSession,
    user: User,
    team: Team,
    *,
    blocked: tuple[int, str] | None = None,
    status_code: int = 200,
) -> Response:
    context = {
        "team": team,
        "columns": tasks.board(db, team_id=team.id),
        "limits": tasks.wip_limits(db, team_id=team.id),
        "failed": requests_service.failed_for_team(db, team_id=team.id),
        "teams": [m.team for m in user.memberships],
        "blocked": blocked,
    }
    return render(
        request, "requests/board_detail.html", context, block="board", status_code=status_code
    )


@router.post("/ops/tasks/{task_id}/advance", name="task_advance")
def task_advance(
    request: Request, task_id: int, db: DbSession, user: PageUser, data: SubmittedForm
) -> Response:
    task = tasks.get_for_member(db, task_id=task_id, actor=user)
    team = db.get_one(Team, task.team_id)
    outputs = {}
    if str(data.get("output_key", "")).strip():
        outputs[str(data["output_key"]).strip()] = str(data.get("output_value", ""))
    try:
        tasks.advance(
            db,
            actor=user,
            task_id=task_id,
            override_wip=data.get("override_wip") == "yes",
            outputs=outputs,
            notes=str(data.get("notes", "")),
        )
    except WipLimitReached as full:
        db.rollback()
        return _board(request, db, user, team, blocked=(task_id, str(full)), status_code=409)
    return RedirectResponse(
        str(request.url_for("team_board", team_slug=team.slug)), status_code=303
    )


@router.post("/ops/teams/{team_slug}/wip-limits", name="wip_limits")
def wip_limits(
    request: Request, team_slug: str, db: DbSession, user: PageUser, data: SubmittedForm
) -> Response:
    team = _team(db, user, team_slug)
    for column in (TaskStatus.TODO, TaskStatus.DOING):
        raw = str(data.get(column.value, "")).strip()
        limit = int(raw) if raw.isdigit() and int(raw) > 0 else None
        tasks.set_wip_limit(db, actor=user, team_id=team.id, status=column, max_tasks=limit)
    return RedirectResponse(
        str(request.url_for("team_board", team_slug=team.slug)), status_code=303
    )


@router.post("/ops/requests/{request_id}/retry", name="request_retry")
def request_retry(
    request: Request, request_id: int, db: DbSession, user: PageUser, background: BackgroundTasks
) -> Response:
    run = requests_service.retry(db, actor=user, request_id=request_id)
    team_slug = run.request.offering.owner_team.slug
    worker = request.app.state.worker
    if worker is not None:
        background.add_task(worker.wake)  # after the commit
    return RedirectResponse(
        str(request.url_for("team_board", team_slug=team_slug)), status_code=303
    )
