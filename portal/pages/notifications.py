"""In-app notifications: the list, and the unread count every page shows in its top bar."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from servicebay.portal.deps import DbSession, MaybeUser, PageUser
from servicebay.portal.pages.paging import paginate
from servicebay.portal.render import render, see_other
from servicebay.requests import notifications
from servicebay.requests.models import Notification

router = APIRouter()


def count_unread(request: Request, db: DbSession, user: MaybeUser) -> None:
    """Every page's top bar shows how many notifications wait unread."""
    request.state.unread = unread_count(db, user_id=user.id) if user is not None else 0


def unread_count(db: Session, *, user_id: int) -> int:
    statement = select(func.count(Notification.id)).where(
        Notification.user_id == user_id, Notification.read_at.is_(None)
    )
    return int(db.scalar(statement) or 0)


@router.get("/notifications", name="notifications")
def notifications_page(request: Request, db: DbSession, user: PageUser, page: int = 1) -> Response:
    statement = (
        select(Notification).where(Notification.user_id == user.id).order_by(Notification.id.desc())
    )
    paged = paginate(db, statement, number=page, base=str(request.url_for("notifications")))
    return render(request, "account/notification_list.html", {"paged": paged})


@router.post("/notifications/read", name="notifications_read")
def notifications_read(request: Request, db: DbSession, user: PageUser) -> Response:
    notifications.mark_read(db, user_id=user.id)
    return see_other(request, str(request.url_for("notifications")), notice="All caught up.")
