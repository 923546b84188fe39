"""Requests in the JSON API: submit (idempotent), read, timeline, runs, cancel, retry,
comments, rating, notifications."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Request, Response
from pydantic import BaseModel, Field, StrictBool
from sqlalchemy import select

from servicebay.core import events
from servicebay.core.identity import Team, User
from servicebay.portal.deps import ApiUser, AppSettings, DbSession, limit_rate, require_scope
from servicebay.requests import approvals, notifications, policies, tasks
from servicebay.requests import service as requests_service
from servicebay.requests.fulfilment import engine
from servicebay.requests.models import Request as ServiceRequest
from servicebay.requests.models import Task, TaskStatus

router = APIRouter(tags=["requests"])


class RequestIn(BaseModel):
    offering: str = Field(description="Slug of the offering")
    inputs: dict[str, Any] = Field(default_factory=dict)


class RequestOut(BaseModel):
    id: int
    offering: str
    offering_version: int
    status: str
    requester: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    submitted_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    rating: int | None
    rating_comment: str | None


class EventOut(BaseModel):
    id: int
    type: str
    occurred_at: datetime
    actor: str | None
    data: dict[str, Any]


class AttemptOut(BaseModel):
    attempt: int
    status: str
    worker: str
    started_at: datetime
    finished_at: datetime | None
    error: str | None


class LogLineOut(BaseModel):
    attempt: int
    logged_at: datetime
    level: str
    message: str


class RunOut(BaseModel):
    id: int
    status: str
    attempt: int
    max_attempts: int
    next_attempt_at: datetime
    last_error: str | None
    attempts: list[AttemptOut]
    log: list[LogLineOut]


class CancelIn(BaseModel):
    reason: str = Field(default="", max_length=2000)


class CommentIn(BaseModel):
    body: str = Field(min_length=1, max_length=10000)


class CommentOut(BaseModel):
    id: int
    author: str
    body: str
    created_at: datetime


class RatingIn(BaseModel):
    score: int = Field(ge=1, le=5)
    comment: str = Field(default="", max_length=2000)


class NotificationOut(BaseModel):
    id: int
    request_id: int
    message: str
    created_at: datetime


def request_out(found: ServiceRequest) -> RequestOut:
    return RequestOut(
        id=found.id,
        offering=found.offering.slug,
        offering_version=found.version.number,
        status=found.status,
        requester=found.requester.username,
        inputs=dict(found.inputs),
        outputs=dict(found.outputs),
        submitted_at=found.submitted_at,
        updated_at=found.updated_at,
        closed_at=found.closed_at,
        rating=found.rating,
        rating_comment=found.rating_comment,
    )


@router.post("/requests", response_model=RequestOut, status_code=201)
def submit_request(
    request: Request,
    response: Response,
    body: RequestIn,
    db: DbSession,
    user: ApiUser,
    settings: AppSettings,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255)
    ] = None,
) -> RequestOut:
    """Submit a request. With an Idempotency-Key the same call can be repeated safely:
    the same key and body give the same request; a different body is refused (422);
    while the first call is still running, 409."""
    require_scope(request, "request")
    limit_rate(
        request, db, action="submissions", limit=settings.rate_limit_submit, who=f"user:{user.id}"
    )
    if idempotency_key is None:
        created = requests_service.submit(
            db, actor=user, offering_slug=body.offering, inputs=body.inputs
        )
    else:
        created = _submit_once(request, response, db, user, body, idempotency_key)
    answer = request_out(created)
    # Commit here, on this thread: on SQLite the transaction holds the write lock, and
    # a commit left to the dependency's teardown waits for a free thread under load.
    db.commit()
    return answer


def _submit_once(
    request: Request, response: Response, db: Any, user: User, body: RequestIn, key: str
) -> ServiceRequest:
    key = key.strip()
    if not 1 <= len(key) <= 255:
        raise HTTPException(400, "Idempotency-Key must be 1 to 255 characters")
    sessions = request.app.state.sessions
    user_id = user.id  # read now: a rollback below expires the user
    db.commit()  # the key is reserved in its own transaction; hold no lock meanwhile
    previous = requests_service.reserve_key(
        sessions,
        user_id=user_id,
        key=key,
        body_fingerprint=requests_service.fingerprint(body.model_dump()),
    )
    if previous is not None:
        response.headers["Idempotent-Replayed"] = "true"
        return requests_service.get_for_viewer(db, request_id=previous, viewer=user)
    try:
        created = requests_service.submit(
            db, actor=user, offering_slug=body.offering, inputs=body.inputs
        )
        requests_service.bind_key(db, user_id=user_id, key=key, request=created)
    except Exception:
        db.rollback()
        requests_service.release_key(sessions, user_id=user_id, key=key)
        raise
    return created


@router.get("/requests", response_model=list[RequestOut])
def list_my_requests(db: DbSession, user: ApiUser) -> list[RequestOut]:
    return [request_out(r) for r in requests_service.list_for_requester(db, requester=user)]


@router.get("/requests/{request_id}", response_model=RequestOut)
def get_request(request_id: int, db: DbSession, user: ApiUser) -> RequestOut:
    return request_out(requests_service.get_for_viewer(db, request_id=request_id, viewer=user))


@router.get("/requests/{request_id}/events", response_model=list[EventOut])
def request_events(request_id: int, db: DbSession, user: ApiUser) -> list[EventOut]:
    """Everything that happened to the request, in order, with who did it."""
    found = requests_service.get_for_viewer(db, request_id=request_id, viewer=user)
    return [
        EventOut(
            id=event.id,
            type=event.type,
            occurred_at=event.occurred_at,
            actor=event.actor.username if event.actor else None,
            data=dict(event.data),
        )
        for event in events.for_request(db, request_id=found.id)
    ]


@router.get("/requests/{request_id}/runs", response_model=list[RunOut])
def request_runs(request_id: int, db: DbSession, user: ApiUser) -> list[RunOut]:
    """Every fulfilment run with each attempt's status, timing, error and log lines."""
    found = requests_service.get_for_viewer(db, request_id=request_id, viewer=user)
    runs = engine.runs_for_request(db, request_id=found.id)
    ids = [run.id for run in runs]
    attempts = engine.attempts_of(db, run_ids=ids)
    lines = engine.log_lines(db, run_ids=ids)
    return [
        RunOut(
            id=run.id,
            status=run.status,
            attempt=run.attempt,
            max_attempts=run.max_attempts,
            next_attempt_at=run.next_attempt_at,
            last_error=run.last_error,
            attempts=[
                AttemptOut(
                    attempt=a.attempt,
                    status=a.status,
                    worker=a.worker,
                    started_at=a.started_at,
                    finished_at=a.finished_at,
                    error=a.error,
                )
                for a in attempts
                if a.run_id == run.id
            ],
            log=[
                LogLineOut(
                    attempt=line.attempt,
                    logged_at=line.logged_at,
                    level=line.level,
                    message=line.message,
                )
                for line in lines
                if line.run_id == run.id
            ],
        )
        for run in runs
    ]


@router.get("/requests/{request_id}/approvals")
def request_approvals(request_id: int, db: DbSession, user: ApiUser) -> list[dict[str, Any]]:
    found = requests_service.get_for_viewer(db, request_id=request_id, viewer=user)
    return [
        {
            "id": step.id,
            "step": step.name,
            "position": step.position,
            "status": step.status,
            "decided_by": step.decided_by.username if step.decided_by else None,
            "decided_at": step.decided_at,
            "reason": step.reason,
        }
        for step in approvals.steps_of(db, request_id=found.id)
    ]


@router.post("/requests/{request_id}/cancel", response_model=RequestOut)
def cancel_request(
    request_id: int, body: CancelIn, request: Request, db: DbSession, user: ApiUser
) -> RequestOut:
    """The requester or the owner team stops the request; its pending runs stop too."""
    require_scope(request, "request")
    return request_out(
        requests_service.cancel(db, actor=user, request_id=request_id, reason=body.reason)
    )


@router.post("/requests/{request_id}/retry", response_model=RequestOut)
def retry_request(request_id: int, request: Request, db: DbSession, user: ApiUser) -> RequestOut:
    """The owner team starts a new fulfilment run for a failed request."""
    require_scope(request, "ops")
    run = requests_service.retry(db, actor=user, request_id=request_id)
    return request_out(run.request)


@router.get("/requests/{request_id}/comments", response_model=list[CommentOut])
def list_comments(request_id: int, db: DbSession, user: ApiUser) -> list[CommentOut]:
    found = requests_service.get_for_viewer(db, request_id=request_id, viewer=user)
    return [
        CommentOut(id=c.id, author=c.author.username, body=c.body, created_at=c.created_at)
        for c in requests_service.comments_of(db, request_id=found.id)
    ]


@router.post("/requests/{request_id}/comments", response_model=CommentOut, status_code=201)
def add_comment(
    request_id: int, body: CommentIn, request: Request, db: DbSession, user: ApiUser
) -> CommentOut:
    require_scope(request, "request")
    comment = requests_service.add_comment(db, actor=user, request_id=request_id, body=body.body)
    return CommentOut(
        id=comment.id, author=user.username, body=comment.body, created_at=comment.created_at
    )


@router.put("/requests/{request_id}/rating", response_model=RequestOut)
def rate_request(
    request_id: int, body: RatingIn, request: Request, db: DbSession, user: ApiUser
) -> RequestOut:
    """Rate a completed request from 1 to 5, once; the rating can be edited for 14 days."""
    require_scope(request, "request")
    return request_out(
        requests_service.rate(
            db, actor=user, request_id=request_id, score=body.score, comment=body.comment
        )
    )


@router.get("/notifications", response_model=list[NotificationOut])
def my_notifications(db: DbSession, user: ApiUser) -> list[NotificationOut]:
    return [
        NotificationOut(
            id=n.id, request_id=n.request_id, message=n.message, created_at=n.created_at
        )
        for n in notifications.unread_for(db, user_id=user.id)
    ]


# --- manual fulfilment: the owner team's board ------------------------------------


class TaskOut(BaseModel):
    id: int
    request_id: int
    offering: str
    status: str
    assignee: str | None
    checklist: list[dict[str, Any]]
    notes: str


class BoardOut(BaseModel):
    team: str
    columns: dict[str, list[TaskOut]]
    wip_limits: dict[str, int]
    failed: list[RequestOut]


class AdvanceIn(BaseModel):
    override_wip: StrictBool = Field(default=False, description="Exceed the WIP limit (recorded)")
    outputs: dict[str, Any] = Field(default_factory=dict, description="On completion")
    notes: str = Field(default="", max_length=10000)


class WipLimitsIn(BaseModel):
    todo: int | None = Field(default=None, ge=1)
    doing: int | None = Field(default=None, ge=1)


def task_out(task: Task) -> TaskOut:
    return TaskOut(
        id=task.id,
        request_id=task.request_id,
        offering=task.request.offering.slug,
        status=task.status,
        assignee=task.assignee.username if task.assignee else None,
        checklist=[dict(item) for item in task.checklist],
        notes=task.notes,
    )


@router.get("/teams/{team_slug}/board", response_model=BoardOut)
def get_team_board(team_slug: str, db: DbSession, user: ApiUser) -> BoardOut:
    """The team's manual tasks by column, its WIP limits and its failed requests."""
    team = _member_team(db, user, team_slug)
    columns = tasks.board(db, team_id=team.id)
    return BoardOut(
        team=team.slug,
        columns={name: [task_out(t) for t in cards] for name, cards in columns.items()},
        wip_limits=tasks.wip_limits(db, team_id=team.id),
        failed=[request_out(r) for r, _ in requests_service.failed_for_team(db, team_id=team.id)],
    )


@router.put("/teams/{team_slug}/wip-limits", response_model=dict[str, int])
def set_wip_limits(
    team_slug: str, body: WipLimitsIn, request: Request, db: DbSession, user: ApiUser
) -> dict[str, int]:
    require_scope(request, "ops")
    team = _member_team(db, user, team_slug)
    for column in (TaskStatus.TODO, TaskStatus.DOING):
        tasks.set_wip_limit(
            db, actor=user, team_id=team.id, status=column, max_tasks=getattr(body, column.value)
        )
    db.flush()
    return tasks.wip_limits(db, team_id=team.id)


@router.post("/tasks/{task_id}/advance", response_model=TaskOut)
def advance_task(
    task_id: int, body: AdvanceIn, request: Request, db: DbSession, user: ApiUser
) -> TaskOut:
    """todo → doing → done. Done completes the request with the outputs and notes."""
    require_scope(request, "ops")
    task = tasks.advance(
        db,
        actor=user,
        task_id=task_id,
        override_wip=body.override_wip,
        outputs=body.outputs,
        notes=body.notes,
    )
    return task_out(task)


def _member_team(db: Any, user: User, team_slug: str) -> Team:
    team = db.scalar(select(Team).where(Team.slug == team_slug))
    if team is None or not policies.can_work_on_board(user, team.id):
        raise HTTPException(404, f"no team {team_slug!r} of yours")
    return team  # type: ignore[no-any-return]


class AssignIn(BaseModel):
    assignee: str | None = Field(default=None, description="Username in the owner team; null")


class ChecklistIn(BaseModel):
    done: StrictBool


@router.post("/tasks/{task_id}/assign", response_model=TaskOut)
def assign_task(
    task_id: int, body: AssignIn, request: Request, db: DbSession, user: ApiUser
) -> TaskOut:
    require_scope(request, "ops")
    assignee = None
    if body.assignee is not None:
        assignee = db.scalar(select(User).where(User.username == body.assignee))
        if assignee is None:
            raise HTTPException(422, f"no user {body.assignee!r}")
    return task_out(tasks.assign(db, actor=user, task_id=task_id, assignee=assignee))


@router.put("/tasks/{task_id}/checklist/{index}", response_model=TaskOut)
def tick_checklist_item(
    task_id: int, index: int, body: ChecklistIn, request: Request, db: DbSession, user: ApiUser
) -> TaskOut:
    require_scope(request, "ops")
    return task_out(tasks.tick(db, actor=user, task_id=task_id, index=index, done=body.done))
