"""Approvals: the decisions waiting for me, with what was asked and who asks, one click each."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from servicebay.core.identity import User
from servicebay.portal.deps import DbSession, PageUser, SubmittedForm
from servicebay.portal.pages.paging import paginate_list
from servicebay.portal.render import render, see_other, url_of
from servicebay.requests import approvals
from servicebay.requests import service as requests_service
from servicebay.requests.errors import DecisionInvalid

router = APIRouter()


@router.get("/approvals", name="approvals")
def approvals_page(request: Request, db: DbSession, user: PageUser, page: int = 1) -> Response:
    return _inbox(request, db, user, page=page)


def _inbox(
    request: Request,
    db: Session,
    user: User,
    *,
    page: int = 1,
    problems: dict[int, str] | None = None,
    status_code: int = 200,
) -> Response:
    waiting = approvals.inbox(db, user=user)
    paged = paginate_list(waiting, number=page, base=str(url_of(request, "approvals")))
    histories = {
        approval.id: requests_service.requester_history(db, request=approval.request)
        for approval in paged.rows
    }
    context = {
        "paged": paged,
        "histories": histories,
        "problems": problems or {},
        "decides": approvals.decides_approvals(db, user=user),
    }
    return render(request, "requests/approval_list.html", context, status_code=status_code)


@router.post("/approvals/{approval_id}", name="approval_decide")
def approval_decide(
    request: Request, approval_id: int, db: DbSession, user: PageUser, data: SubmittedForm
) -> Response:
    decision = str(data.get("decision") or "")
    reason = str(data.get("reason") or "")
    if decision not in ("approve", "reject"):
        return _inbox(
            request, db, user, problems={approval_id: "Choose approve or reject."}, status_code=422
        )
    try:
        decided = approvals.decide(
            db, actor=user, approval_id=approval_id, approve=decision == "approve", reason=reason
        )
    except DecisionInvalid:
        db.rollback()
        problem = "Say why you reject it: the requester will read the reason."
        return _inbox(request, db, user, problems={approval_id: problem}, status_code=422)
    verb = "approved" if decision == "approve" else "rejected"
    notice = f"Request #{decided.request_id} {verb}."
    return see_other(request, str(url_of(request, "approvals")), notice=notice)
