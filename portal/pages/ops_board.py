"""The ops workspace: the team board (manual tasks with WIP limits, failed runs with retry)
and the team's offerings with readiness. Demand triage is in pages/demand.py."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from servicebay.catalog import demand as demand_service
from servicebay.catalog import readiness
from servicebay.catalog import service as catalog_service
from servicebay.core import chat as core_chat
from servicebay.core import preferences
from servicebay.core.errors import Invalid
from servicebay.core.identity import Team
from servicebay.core.outbound import OutboundPolicy
from servicebay.portal.deps import AppSettings, DbSession, PageUser, SubmittedForm
from servicebay.portal.render import problem_sentence, render, see_other, url_of
from servicebay.requests import service as requests_service
from servicebay.requests import tasks
from servicebay.requests.errors import TransitionNotAllowed, WipLimitInvalid, WipLimitReached

router = APIRouter(prefix="/ops")
COLUMN_TITLES = {"todo": "To do", "doing": "Doing", "done": "Done"}
DONE_SHOWN = 10


@router.get("", name="ops_board")
def ops_board(request: Request, db: DbSession, user: PageUser, team: str = "") -> Response:
    chosen = tasks.workspace_team(db, viewer=user, slug=team)
    context: dict[str, Any] = {"teams": tasks.workspace_teams(db, viewer=user), "team": chosen}
    if chosen is not None:
        board = tasks.board_view(db, viewer=user, team=chosen, done_shown=DONE_SHOWN)
        offerings = db.scalars(catalog_service.for_ops(user, team_id=chosen.id)).all()
        context |= {
            "columns": board.columns,
            "titles": COLUMN_TITLES,
            "limits": board.limits,
            "failed": requests_service.failed_for_team(db, team_id=chosen.id),
            "offerings": [
                (offering, readiness.assess(offering, catalog_service.head_version(db, offering)))
                for offering in offerings
            ],
            "new_demands": demand_service.count_new(db),
            "is_lead": tasks.is_lead_of(user, chosen),
            "chat": core_chat.view(core_chat.of_team(db, team_id=chosen.id)),
            "chat_formats": core_chat.FORMATS,
            "team_topics": preferences.TEAM_TOPICS,
            "chat_default_topics": core_chat.TEAM_DEFAULT_TOPICS,
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
    chosen = tasks.workspace_team(db, viewer=user, slug=str(data.get("team") or ""))
    if chosen is None:
        return see_other(request, str(url_of(request, "ops_board")))
    target = _board_of(request, chosen)
    limits = {column: str(data.get(column.value) or "") for column in tasks.WIP_COLUMNS}
    try:
        tasks.set_wip_limits(db, actor=user, team_id=chosen.id, limits=limits)
    except WipLimitInvalid as refused:
        return see_other(request, target, notice=str(refused).capitalize() + ".", kind="error")
    return see_other(request, target, notice="WIP limits saved.")


@router.post("/chat", name="ops_chat")
def ops_chat(
    request: Request, db: DbSession, user: PageUser, data: SubmittedForm, settings: AppSettings
) -> Response:
    """A team's leads choose where, and about what, the team is told in chat."""
    slug = str(data.get("team") or "")
    target = str(url_of(request, "ops_board")) + f"?team={quote(slug)}#chat"
    try:
        core_chat.set_for_team(
            db,
            actor=user,
            team_slug=slug,
            format=str(data.get("format") or ""),
            url=str(data.get("url") or ""),
            topics=[topic for topic in data.getlist("topics") if isinstance(topic, str)],
            policy=OutboundPolicy.from_settings(settings),
        )
    except Invalid as refused:
        db.rollback()
        return see_other(request, target, notice=problem_sentence(refused), kind="error")
    return see_other(request, target, notice="Team chat notifications saved.")


@router.post("/chat/remove", name="ops_chat_remove")
def ops_chat_remove(
    request: Request, db: DbSession, user: PageUser, data: SubmittedForm
) -> Response:
    slug = str(data.get("team") or "")
    core_chat.remove_for_team(db, actor=user, team_slug=slug)
    target = str(url_of(request, "ops_board")) + f"?team={quote(slug)}#chat"
    return see_other(request, target, notice="Team chat notifications turned off.")


@router.post("/requests/{request_id}/retry", name="ops_request_retry")
def ops_request_retry(request: Request, request_id: int, db: DbSession, user: PageUser) -> Response:
    run = requests_service.retry(db, actor=user, request_id=request_id)
    target = _team_board(request, db, run.request.offering.owner_team_id)
    return see_other(request, target, notice=f"Request #{request_id} is being retried.")


def _team_board(request: Request, db: Session, team_id: int) -> str:
    team = tasks.team_of_board(db, team_id=team_id)
    return _board_of(request, team)


def _board_of(request: Request, team: Team | None) -> str:
    base = str(url_of(request, "ops_board"))
    return f"{base}?team={team.slug}" if team else base
