"""Insights for product owners: adoption per offering."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from servicebay.analytics import adoption
from servicebay.portal.deps import DbSession, PageUser
from servicebay.portal.render import render

router = APIRouter()


@router.get("/insights", name="insights")
def insights(request: Request, db: DbSession, user: PageUser) -> Response:
    rows = adoption.adoption(db)
    return render(request, "analytics/insights.html", {"rows": rows})
