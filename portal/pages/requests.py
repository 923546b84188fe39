"""The requester's pages: my requests, and one request with its live status, conversation
and outcome (cancel while open, rate once completed)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from servicebay.core.identity import User
from servicebay.portal.deps import DbSession, PageUser, SubmittedForm
from servicebay.portal.pages.paging import paginate
from servicebay.portal.render import render, see_other, url_of
from servicebay.requests import approvals, lifecycle, policies
from servicebay.requests import service as requests_service
from servicebay.requests.errors import InvalidInput
from servicebay.requests.models import Request as ServiceRequest
from servicebay.requests.models import RequestStatus

router = APIRouter()

SORT_LABELS = {
    "newest": "Newest first",
    "oldest": "Oldest first",
    "updated": "Recently updated",
    "offering": "Offering A to Z",
}
STATUS_CHOICES = {
    "": "Any status",
    "open": "Open",
    "closed": "Closed",
    **{status.value: status.value.replace("_", " ").capitalize() for status in RequestStatus},
}


@router.get("/requests", name="my_requests")
def my_requests(
    request: Request,
    db: DbSession,
    user: PageUser,
    status: str = "",
    q: str = "",
    sort: str = "newest",
    page: int = 1,
) -> Response:
    status = status if status in requests_service.STATUS_FILTERS else ""
    sort = sort if sort in requests_service.SORTS else "newest"
    paged = paginate(
        db,
        requests_service.requests_of(user, status=status, q=q, sort=sort),
        number=page,
        base=str(url_of(request, "my_requests")),
        params={"status": status, "q": q, "sort": sort if sort != "newest" else ""},
    )
    context = {
        "paged": paged,
        "status": status,
        "q": q,
        "sort": sort,
        "status_choices": STATUS_CHOICES,
        "sort_labels": SORT_LABELS,
    }
    return render(request, "requests/request_list.html", context, block="results")


@router.get("/requests/{request_id}", name="request_page")
def request_page(request: Request, request_id: int, db: DbSession, user: PageUser) -> Response:
    found = requests_service.get_for_viewer(db, request_id=request_id, viewer=user)
    return _request_response(request, db, found, user)


def _request_response(
    request: Request,
    db: DbSession,
    found: ServiceRequest,
    user: User,
    *,
    problems: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    runs = requests_service.runs_of(db, viewer=user, request=found)
    status = RequestStatus(found.status)
    context = {
        "req": found,
        "in_flight": status not in lifecycle.CLOSED and status is not RequestStatus.FAILED,
        "timeline": requests_service.timeline(db, viewer=user, request=found),
        "runs": runs,
        "step_count": requests_service.step_count(found),
        "log": [line for run in runs for line in run.log],
        "steps": approvals.steps_of(db, request_id=found.id),
        "comments": requests_service.comments_of(db, request_id=found.id),
        "can_cancel": policies.may_cancel_now(user, found),
        "can_rate": policies.may_rate_now(user, found),
        "can_comment": approvals.takes_part(db, user, found),
        "is_requester": found.requester_id == user.id,
        "problems": problems or {},
        "values": values or {},
    }
    return render(
        request,
        "requests/request_detail.html",
        context,
        block="live",
        status_code=422 if problems else 200,
    )


@router.post("/requests/{request_id}/cancel", name="request_cancel")
def request_cancel(
    request: Request, request_id: int, db: DbSession, user: PageUser, data: SubmittedForm
) -> Response:
    reason = str(data.get("reason") or "")
    requests_service.cancel(db, actor=user, request_id=request_id, reason=reason)
    target = str(url_of(request, "request_page", request_id=request_id))
    return see_other(request, target, notice=f"Request #{request_id} is cancelled.")


@router.post("/requests/{request_id}/comments", name="request_comment")
def request_comment(
    request: Request, request_id: int, db: DbSession, user: PageUser, data: SubmittedForm
) -> Response:
    body = str(data.get("body") or "")
    try:
        requests_service.add_comment(db, actor=user, request_id=request_id, body=body)
    except InvalidInput as invalid:
        found = requests_service.get_for_viewer(db, request_id=request_id, viewer=user)
        return _request_response(
            request, db, found, user, problems={"body": str(invalid)}, values={"body": body}
        )
    target = str(url_of(request, "request_page", request_id=request_id)) + "#comments"
    return see_other(request, target, notice="Comment added.")


@router.get("/requests/{request_id}/rating", name="request_rating_form")
@router.get("/requests/{request_id}/comments", name="request_comment_form")
def request_form_reloaded(request: Request, request_id: int, _signed_in: PageUser) -> Response:
    """A form of the request page that was refused answers at its own address; reloading
    that address (or opening it again) leads back to the request page, never to an error."""
    anchor = "#rating" if request.url.path.endswith("/rating") else "#comments"
    target = str(url_of(request, "request_page", request_id=request_id)) + anchor
    return RedirectResponse(target, status_code=303)


@router.post("/requests/{request_id}/rating", name="request_rate")
def request_rate(
    request: Request, request_id: int, db: DbSession, user: PageUser, data: SubmittedForm
) -> Response:
    comment = str(data.get("comment") or "")
    try:
        score = int(str(data.get("score") or "0"))
        requests_service.rate(db, actor=user, request_id=request_id, score=score, comment=comment)
    except (ValueError, InvalidInput):
        found = requests_service.get_for_viewer(db, request_id=request_id, viewer=user)
        problems = {"score": "choose from 1 (poor) to 5 (excellent) stars"}
        return _request_response(
            request, db, found, user, problems=problems, values={"comment": comment}
        )
    target = str(url_of(request, "request_page", request_id=request_id))
    return see_other(request, target, notice="Thank you for rating this request.")
