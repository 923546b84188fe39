"""In-app notifications: the list (the top bar's unread count is portal.navigation's)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from servicebay.portal.deps import DbSession, PageUser
from servicebay.portal.pages.paging import paginate
from servicebay.portal.render import render, see_other, url_of
from servicebay.requests import notifications

router = APIRouter()


@router.get("/notifications", name="notifications")
def notifications_page(request: Request, db: DbSession, user: PageUser, page: int = 1) -> Response:
    paged = paginate(
        db,
        notifications.newest_first(user_id=user.id),
        number=page,
        base=str(url_of(request, "notifications")),
    )
    return render(request, "account/notification_list.html", {"paged": paged})


@router.post("/notifications/read", name="notifications_read")
def notifications_read(request: Request, db: DbSession, user: PageUser) -> Response:
    notifications.mark_read(db, user_id=user.id)
    return see_other(request, str(url_of(request, "notifications")), notice="All caught up.")
