"""In-app notifications: the list, and the unread count every page shows in its top bar."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from servicebay.portal.deps import DbSession, MaybeUser, PageUser
from servicebay.portal.pages.paging import paginate
from servicebay.portal.render import render, see_other
from servicebay.requests import notifications

router = APIRouter()


def count_unread(request: Request, db: DbSession, user: MaybeUser) -> None:
    """Every page's top bar shows how many notifications wait unread."""
    request.state.unread = (
        notifications.unread_count(db, user_id=user.id) if user is not None else 0
    )


@router.get("/notifications", name="notifications")
def notifications_page(request: Request, db: DbSession, user: PageUser, page: int = 1) -> Response:
    paged = paginate(
        db,
        notifications.newest_first(user_id=user.id),
        number=page,
        base=str(request.url_for("notifications")),
    )
    return render(request, "account/notification_list.html", {"paged": paged})


@router.post("/notifications/read", name="notifications_read")
def notifications_read(request: Request, db: DbSession, user: PageUser) -> Response:
    notifications.mark_read(db, user_id=user.id)
    return see_other(request, str(request.url_for("notifications")), notice="All caught up.")
