"""The approver's inbox: the steps waiting for your decision, approve or reject."""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import RedirectResponse, Response

from servicebay.core.identity import User
from servicebay.portal.deps import DbSession, PageUser, SubmittedForm
from servicebay.portal.render import render
from servicebay.requests import approvals
from servicebay.requests.errors import DecisionInvalid

router = APIRouter()


@router.get("/approvals", name="approvals")
def approval_inbox(request: Request, db: DbSession, user: PageUser) -> Response:
    return _inbox(request, db, user)


def _inbox(
    request: Request,
    db: DbSession,
    user: User,
    *,
    problems: dict[int, str] | None = None,
    status_code: int = 200,
) -> Response:
    context = {"approvals": approvals.inbox(db, user=user), "problems": problems or {}}
    return render(
        request, "requests/approval_list.html", context, block="inbox", status_code=status_code
    )


@router.post("/approvals/{approval_id}/decide", name="approval_decide")
def approval_decide(
    request: Request,
    approval_id: int,
    db: DbSession,
    user: PageUser,
    data: SubmittedForm,
    background: BackgroundTasks,
) -> Response:
    try:
        approvals.decide(
            db,
            actor=user,
            approval_id=approval_id,
            approve=data.get("decision") == "approve",
            reason=str(data.get("reason", "")),
        )
    except DecisionInvalid as invalid:
        db.rollback()
        return _inbox(request, db, user, problems={approval_id: str(invalid)}, status_code=422)
    worker = request.app.state.worker
    if worker is not None:
        background.add_task(worker.wake)  # after the commit
    return RedirectResponse(str(request.url_for("approvals")), status_code=303)
