"""Analytics in the JSON API: every insights table as JSON rows or CSV, and drill-down.

Analysts and administrators read every offering; others their own teams' offerings.
Filters: ``team`` (owner team slug), ``offering`` (slug), ``since`` and ``until`` (days,
both included; by default the last 30 days). ``format=csv`` answers with CSV.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from servicebay.analytics import drill, reports
from servicebay.analytics.scope import period_of_days, visible_offerings
from servicebay.catalog import service as catalog_service
from servicebay.core import events
from servicebay.portal.api.params import IsoDate
from servicebay.portal.deps import ApiUser, DbSession, require_scope

router = APIRouter(prefix="/analytics", tags=["analytics"])


class Filters(BaseModel):
    team: str | None = None
    offering: str | None = None
    since: date | None = None
    until: date | None = None


def filter_query(
    team: str | None = None,
    offering: str | None = None,
    since: IsoDate | None = None,
    until: IsoDate | None = None,
) -> Filters:
    return Filters(team=team, offering=offering, since=since, until=until)


FilterQuery = Annotated[Filters, Depends(filter_query)]


def context_for(db: DbSession, user: ApiUser, filters: Filters) -> reports.Context:
    offerings = visible_offerings(
        db, viewer=user, team_slug=filters.team, offering_slug=filters.offering
    )
    return reports.Context(db, offerings, period_of_days(filters.since, filters.until))


def table_response(table: reports.Table, output: str) -> Response:
    if output == "csv":
        return Response(
            table.to_csv(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{table.name}.csv"'},
        )
    return JSONResponse(table.rows)


OutputFormat = Annotated[str, Query(alias="format", pattern="^(json|csv)$")]


class FormStartedIn(BaseModel):
    offering: str


@router.post("/form-started", status_code=204)
def form_started(body: FormStartedIn, db: DbSession, user: ApiUser, request: Request) -> Response:
    """Someone began filling in an offering's request form (counted once per page)."""
    require_scope(request, "request")
    offering = catalog_service.get_offering(db, slug=body.offering, viewer=user)
    events.record(db, type="offering.form_started", actor_id=user.id, offering_id=offering.id)
    return Response(status_code=204)


class RequestBehindOut(BaseModel):
    request_id: int
    offering: str
    status: str
    submitted_at: str
    at: str | None


@router.get("/requests", response_model=list[RequestBehindOut])
def requests_behind(
    db: DbSession,
    user: ApiUser,
    filters: FilterQuery,
    metric: str,
    day: IsoDate | None = None,
) -> list[RequestBehindOut]:
    """The requests behind a number: ``metric`` is one of submitted, completed, rejected,
    cancelled, failed, open; ``day`` narrows to one day of the period."""
    context = context_for(db, user, filters)
    found = drill.requests_behind(
        db, offerings=context.offerings, period=context.period, metric=metric, day=day
    )
    return [
        RequestBehindOut(
            request_id=row.request_id,
            offering=row.offering,
            status=row.status,
            submitted_at=row.submitted_at.isoformat(),
            at=row.at.isoformat() if row.at else None,
        )
        for row in found
    ]


@router.get("/forecast")
def forecast(
    db: DbSession,
    user: ApiUser,
    filters: FilterQuery,
    items: Annotated[int | None, Query(ge=0, le=100_000)] = None,
    days: Annotated[int, Query(ge=1, le=365)] = 14,
    output: OutputFormat = "json",
) -> Response:
    """When will N open requests be done, and how many in the next D days (50/85/95 %)."""
    table = reports.forecast_table(context_for(db, user, filters), items=items, days=days)
    return table_response(table, output)


@router.get("/{name}")
def table(
    name: str, db: DbSession, user: ApiUser, filters: FilterQuery, output: OutputFormat = "json"
) -> Response:
    """One insights table (adoption, rejection, flow, throughput, …) as rows."""
    build = reports.TABLES.get(name)
    if build is None:
        raise HTTPException(404, f"no analytics table {name!r}; one of {', '.join(reports.TABLES)}")
    return table_response(build(context_for(db, user, filters)), output)
