"""Administration pages, read-only: the audit trail, and the people and teams."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from servicebay.analytics import audit
from servicebay.core import identity, policies
from servicebay.portal.deps import DbSession, PageUser
from servicebay.portal.render import render

router = APIRouter()

PER_PAGE = 50


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _start(day: date | None) -> datetime | None:
    return datetime.combine(day, time.min, UTC) if day else None


@router.get("/admin/audit", name="admin_audit")
def admin_audit(
    request: Request,
    db: DbSession,
    user: PageUser,
    actor: str = "",
    type: str = "",
    offering: str = "",
    since: str = "",
    until: str = "",
    before_id: int | None = None,
) -> Response:
    """Every Event, newest first, filtered by person, type, offering and days."""
    policies.require_audit_reader(user)
    filters = {"actor": actor, "type": type, "offering": offering, "since": since, "until": until}
    first, last = _day(since.strip()), _day(until.strip())
    problems = [
        f"{name} is not a date like 2026-01-31"
        for name, day, text in (("since", first, since), ("until", last, until))
        if text.strip() and day is None
    ]
    found = audit.trail(
        db,
        actor=actor,
        type=type,
        offering=offering,
        since=_start(first),
        until=_start(last + timedelta(days=1)) if last else None,
        before_id=before_id,
        limit=PER_PAGE,
    )
    context = {
        "rows": found.rows,
        "filters": filters,
        "problems": problems,
        "older_link": _link(filters, found.next_before_id) if found.next_before_id else None,
        "newest_link": _link(filters, None) if before_id else None,
    }
    status = 422 if problems else 200
    return render(request, "admin/audit_list.html", context, status_code=status)


@router.get("/admin/people", name="admin_people")
def admin_people(request: Request, db: DbSession, user: PageUser) -> Response:
    """Every team with its leads and members, and every person with their teams and roles."""
    found = identity.directory(db, viewer=user)
    return render(request, "admin/people_list.html", {"directory": found})


def _link(filters: dict[str, str], before_id: int | None) -> str:
    query = {name: value for name, value in filters.items() if value}
    if before_id is not None:
        query["before_id"] = str(before_id)
    return "/admin/audit?" + urlencode(query)
