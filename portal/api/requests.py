"""Requests in the JSON API: submit (idempotent), read, timeline, runs, cancel, retry,
comments, rating, notifications."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field, StrictBool

from servicebay.catalog.schemas import SLUG_MAX
from servicebay.portal.deps import (
    ApiUser,
    AppSettings,
    DbSession,
    FormOptions,
    ViewableRequest,
    limit_rate,
    require_scope,
)
from servicebay.requests import approvals, notifications, tasks
from servicebay.requests import service as requests_service
from servicebay.requests.models import Approval, Comment, Notification, Task, TaskStatus
from servicebay.requests.models import Request as ServiceRequest
from servicebay.requests.schemas import (
    ApprovalStepOut,
    BoardOut,
    CommentOut,
    EventOut,
    NotificationOut,
    RequestOut,
    RunOut,
    TaskOut,
)

router = APIRouter(tags=["requests"])


STATUS_HELP = "One of: " + ", ".join(f for f in requests_service.STATUS_FILTERS if f)
SORT_HELP = "One of: " + ", ".join(requests_service.SORTS)


class RequestIn(BaseModel):
    offering: str = Field(max_length=SLUG_MAX, description="Slug of the offering")
    inputs: dict[str, Any] = Field(default_factory=dict)


class CancelIn(BaseModel):
    reason: str = Field(default="", max_length=2000)


class CommentIn(BaseModel):
    body: str = Field(min_length=1, max_length=10000)


class RatingIn(BaseModel):
    score: int = Field(ge=1, le=5)
    comment: str = Field(default="", max_length=2000)


@router.post("/requests", response_model=RequestOut, status_code=201)
def submit_request(
    request: Request,
    response: Response,
    body: RequestIn,
    db: DbSession,
    user: ApiUser,
    settings: AppSettings,
    live: FormOptions,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255)
    ] = None,
) -> RequestOut:
    """Submit a request. With an Idempotency-Key the same call can be repeated safely:
    the same key and body give the same request (with `Idempotent-Replayed: true`); a
    different body is refused (422). A repeat sent while the first call still runs waits
    for it and answers its request; a first call that failed or died (its process or its
    database connection gone) left nothing behind, so the repeat submits at once."""
    require_scope(request, "request")
    limit_rate(
        request, db, action="submissions", limit=settings.rate_limit_submit, who=f"user:{user.id}"
    )
    if idempotency_key is None:
        created = requests_service.submit(
            db, actor=user, offering_slug=body.offering, inputs=body.inputs, live=live
        )
    else:
        key = idempotency_key.strip()
        if not 1 <= len(key) <= 255:
            raise HTTPException(400, "Idempotency-Key must be 1 to 255 characters")
        created, replayed = requests_service.submit_once(
            db, actor=user, key=key, offering_slug=body.offering, inputs=body.inputs, live=live
        )
        if replayed:
            response.headers["Idempotent-Replayed"] = "true"
    answer = RequestOut.model_validate(created)
    # Commit here, on this thread: on SQLite the transaction holds the write lock, and
    # a commit left to the dependency's teardown waits for a free thread under load.
    db.commit()
    return answer


@router.get("/requests", response_model=list[RequestOut])
def list_my_requests(
    db: DbSession,
    user: ApiUser,
    status: Annotated[str, Query(max_length=40, description=STATUS_HELP)] = "",
    q: Annotated[str, Query(max_length=200, description="Part of the offering's name")] = "",
    sort: Annotated[str, Query(max_length=40, description=SORT_HELP)] = "newest",
) -> list[ServiceRequest]:
    """Your newest 100 requests, narrowed and ordered as the My requests page does."""
    return requests_service.list_for_requester(db, requester=user, status=status, q=q, sort=sort)


@router.get("/requests/{request_id}", response_model=RequestOut)
def get_request(found: ViewableRequest) -> ServiceRequest:
    return found


@router.get("/requests/{request_id}/events", response_model=list[EventOut])
def request_events(
    found: ViewableRequest, db: DbSession, user: ApiUser
) -> list[requests_service.EventSeen]:
    """Everything that happened to the request, in order, with who did it."""
    return requests_service.events_seen_by(db, viewer=user, request=found)


@router.get("/requests/{request_id}/runs", response_model=list[RunOut])
def request_runs(found: ViewableRequest, db: DbSession, user: ApiUser) -> list[RunOut]:
    """Every fulfilment run with each attempt's status, timing, error and log lines (the
    webhook's address only for the owner team and admins)."""
    return requests_service.runs_of(db, viewer=user, request=found)


@router.get("/requests/{request_id}/approvals", response_model=list[ApprovalStepOut])
def request_approvals(found: ViewableRequest, db: DbSession) -> list[Approval]:
    return approvals.steps_of(db, request_id=found.id)


@router.post("/requests/{request_id}/cancel", response_model=RequestOut)
def cancel_request(
    request_id: int, body: CancelIn, request: Request, db: DbSession, user: ApiUser
) -> ServiceRequest:
    """The requester or the owner team stops the request; its pending runs stop too."""
    require_scope(request, "request")
    return requests_service.cancel(db, actor=user, request_id=request_id, reason=body.reason)


@router.post("/requests/{request_id}/retry", response_model=RequestOut)
def retry_request(
    request_id: int, request: Request, db: DbSession, user: ApiUser
) -> ServiceRequest:
    """The owner team starts a new fulfilment run for a failed request."""
    require_scope(request, "ops")
    return requests_service.retry(db, actor=user, request_id=request_id).request


@router.get("/requests/{request_id}/comments", response_model=list[CommentOut])
def list_comments(found: ViewableRequest, db: DbSession) -> list[Comment]:
    return requests_service.comments_of(db, request_id=found.id)


@router.post("/requests/{request_id}/comments", response_model=CommentOut, status_code=201)
def add_comment(
    request_id: int, body: CommentIn, request: Request, db: DbSession, user: ApiUser
) -> Comment:
    require_scope(request, "request")
    return requests_service.add_comment(db, actor=user, request_id=request_id, body=body.body)


@router.put("/requests/{request_id}/rating", response_model=RequestOut)
def rate_request(
    request_id: int, body: RatingIn, request: Request, db: DbSession, user: ApiUser
) -> ServiceRequest:
    """Rate a completed request from 1 to 5, once; the rating can be edited for 14 days."""
    require_scope(request, "request")
    return requests_service.rate(
        db, actor=user, request_id=request_id, score=body.score, comment=body.comment
    )


@router.get("/notifications", response_model=list[NotificationOut])
def my_notifications(db: DbSession, user: ApiUser) -> list[Notification]:
    return notifications.unread_for(db, user_id=user.id)


# --- manual fulfilment: the owner team's board ------------------------------------


class AdvanceIn(BaseModel):
    override_wip: StrictBool = Field(default=False, description="Exceed the WIP limit (recorded)")
    outputs: dict[str, Any] = Field(default_factory=dict, description="On completion")
    notes: str = Field(default="", max_length=10000)


class WipLimitsIn(BaseModel):
    todo: int | None = Field(default=None, description="A whole number above zero; null: none")
    doing: int | None = Field(default=None, description="A whole number above zero; null: none")


@router.get("/teams/{team_slug}/board", response_model=BoardOut)
def get_team_board(team_slug: str, db: DbSession, user: ApiUser) -> BoardOut:
    """The team's manual tasks by column, its WIP limits and its failed requests."""
    view = tasks.board_view(db, viewer=user, team=tasks.board_team(db, viewer=user, slug=team_slug))
    return BoardOut(
        team=view.team.slug,
        columns={
            name: [TaskOut.model_validate(t) for t in column.cards]
            for name, column in view.columns.items()
        },
        wip_limits=view.limits,
        failed=[
            RequestOut.model_validate(r)
            for r, _ in requests_service.failed_for_team(db, team_id=view.team.id)
        ],
    )


@router.put("/teams/{team_slug}/wip-limits", response_model=dict[str, int])
def set_wip_limits(
    team_slug: str, body: WipLimitsIn, request: Request, db: DbSession, user: ApiUser
) -> dict[str, int]:
    require_scope(request, "ops")
    team = tasks.board_team(db, viewer=user, slug=team_slug)
    limits = {TaskStatus.TODO: body.todo, TaskStatus.DOING: body.doing}
    return tasks.set_wip_limits(db, actor=user, team_id=team.id, limits=limits)


@router.post("/tasks/{task_id}/advance", response_model=TaskOut)
def advance_task(
    task_id: int, body: AdvanceIn, request: Request, db: DbSession, user: ApiUser
) -> Task:
    """todo → doing → done. Done completes the request with the outputs and notes."""
    require_scope(request, "ops")
    return tasks.advance(
        db,
        actor=user,
        task_id=task_id,
        override_wip=body.override_wip,
        outputs=body.outputs,
        notes=body.notes,
    )


class AssignIn(BaseModel):
    assignee: str | None = Field(
        default=None, max_length=64, description="Username in the owner team; null"
    )


class ChecklistIn(BaseModel):
    done: StrictBool


@router.post("/tasks/{task_id}/assign", response_model=TaskOut)
def assign_task(
    task_id: int, body: AssignIn, request: Request, db: DbSession, user: ApiUser
) -> Task:
    require_scope(request, "ops")
    return tasks.assign_by_username(db, actor=user, task_id=task_id, username=body.assignee)


@router.put("/tasks/{task_id}/checklist/{index}", response_model=TaskOut)
def tick_checklist_item(
    task_id: int, index: int, body: ChecklistIn, request: Request, db: DbSession, user: ApiUser
) -> Task:
    require_scope(request, "ops")
    return tasks.tick(db, actor=user, task_id=task_id, index=index, done=body.done)
