"""The requester's pages: my requests, one request with its live status, timeline and runs,
and the forms to comment, cancel and rate."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from servicebay.core import events
from servicebay.core.identity import User
from servicebay.portal.deps import DbSession, PageUser, SubmittedForm
from servicebay.portal.render import render
from servicebay.requests import approvals, lifecycle, notifications
from servicebay.requests import service as requests_service
from servicebay.requests.errors import DecisionInvalid
from servicebay.requests.fulfilment import engine
from servicebay.requests.models import RequestStatus

router = APIRouter()


@router.get("/requests", name="my_requests")
def my_requests(request: Request, db: DbSession, user: PageUser) -> Response:
    requests = requests_service.list_for_requester(db, requester=user)
    unread = notifications.unread_for(db, user_id=user.id)
    return render(
        request, "requests/request_list.html", {"requests": requests, "notifications": unread}
    )


@router.post("/notifications/read", name="notifications_read")
def notifications_read(request: Request, db: DbSession, user: PageUser) -> Response:
    notifications.mark_read(db, user_id=user.id)
    return RedirectResponse(str(request.url_for("my_requests")), status_code=303)


@router.get("/requests/{request_id}", name="request_page")
def request_page(request: Request, request_id: int, db: DbSession, user: PageUser) -> Response:
    return _request_response(request, db, user, request_id)


def _request_response(
    request: Request,
    db: DbSession,
    user: User,
    request_id: int,
    *,
    problem: str = "",
    status_code: int = 200,
) -> Response:
    found = requests_service.get_for_viewer(db, request_id=request_id, viewer=user)
    runs = engine.runs_for_request(db, request_id=found.id)
    run_ids = [run.id for run in runs]
    status = RequestStatus(found.status)
    context = {
        "req": found,
        "in_flight": status not in lifecycle.CLOSED and status is not RequestStatus.FAILED,
        "timeline": events.for_request(db, request_id=found.id),
        "runs": runs,
        "attempts": engine.attempts_of(db, run_ids=run_ids),
        "log": engine.log_lines(db, run_ids=run_ids),
        "steps": approvals.steps_of(db, request_id=found.id),
        "comments": requests_service.comments_of(db, request_id=found.id),
        "can_cancel": lifecycle.can_move(found, RequestStatus.CANCELLED),
        "can_rate": found.requester_id == user.id and status is RequestStatus.COMPLETED,
        "is_owner": user.is_admin or user.role_in(found.offering.owner_team_id) is not None,
        "problem": problem,
    }
    return render(
        request, "requests/request_detail.html", context, block="live", status_code=status_code
    )


def _back(request: Request, request_id: int) -> Response:
    return RedirectResponse(
        str(request.url_for("request_page", request_id=request_id)), status_code=303
    )


@router.post("/requests/{request_id}/comments", name="request_comment")
def request_comment(
    request: Request, request_id: int, db: DbSession, user: PageUser, data: SubmittedForm
) -> Response:
    try:
        requests_service.add_comment(
            db, actor=user, request_id=request_id, body=str(data.get("body", ""))
        )
    except DecisionInvalid as invalid:
        return _request_response(
            request, db, user, request_id, problem=str(invalid), status_code=422
        )
    return _back(request, request_id)


@router.post("/requests/{request_id}/cancel", name="request_cancel")
def request_cancel(
    request: Request, request_id: int, db: DbSession, user: PageUser, data: SubmittedForm
) -> Response:
    requests_service.cancel(
        db, actor=user, request_id=request_id, reason=str(data.get("reason", ""))
    )
    return _back(request, request_id)


@router.post("/requests/{request_id}/rating", name="request_rating")
def request_rating(
    request: Request, request_id: int, db: DbSession, user: PageUser, data: SubmittedForm
) -> Response:
    try:
        score = int(str(data.get("score", "")))
        requests_service.rate(
            db,
            actor=user,
            request_id=request_id,
            score=score,
            comment=str(data.get("comment", "")),
        )
    except (ValueError, DecisionInvalid):
        db.rollback()
        return _request_response(
            request, db, user, request_id, problem="Choose a rating from 1 to 5.", status_code=422
        )
    return _back(request, request_id)
