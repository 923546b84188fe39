"""Analytics in the JSON API: every insights table as JSON rows or CSV, and drill-down.

Analysts and administrators read every offering; others their own teams' offerings, and
only members of teams that own offerings read what people searched for. Insights only
read, from the analytics database when one is configured. Filters: ``team`` (owner team
slug), ``offering`` (slug), ``since`` and ``until`` (days, both included; by default the
last 30 days). ``format=csv`` answers with CSV.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from servicebay.analytics import drill, reports
from servicebay.analytics.schemas import RequestBehindOut
from servicebay.catalog import service as catalog_service
from servicebay.catalog.schemas import SLUG_MAX
from servicebay.core import events
from servicebay.portal.api.params import IsoDate
from servicebay.portal.deps import AnalyticsSession, ApiUser, DbSession, require_scope

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


def context_for(reads: AnalyticsSession, user: ApiUser, filters: Filters) -> reports.Context:
    return reports.context_for(
        reads,
        viewer=user,
        team_slug=filters.team,
        offering_slug=filters.offering,
        first_day=filters.since,
        last_day=filters.until,
    )


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
    offering: str = Field(max_length=SLUG_MAX)


@router.post("/form-started", status_code=204)
def form_started(body: FormStartedIn, db: DbSession, user: ApiUser, request: Request) -> Response:
    """Someone began filling in an offering's request form (counted once per page)."""
    require_scope(request, "request")
    offering = catalog_service.get_offering(db, slug=body.offering, viewer=user)
    events.record(db, type="offering.form_started", actor_id=user.id, offering_id=offering.id)
    return Response(status_code=204)


@router.get("/requests", response_model=list[RequestBehindOut])
def requests_behind(
    response: Response,
    reads: AnalyticsSession,
    user: ApiUser,
    filters: FilterQuery,
    metric: str,
    day: IsoDate | None = None,
) -> list[RequestBehindOut]:
    """The requests behind a number: ``metric`` is one of submitted, completed, rejected,
    cancelled, failed, open; ``day`` narrows to one day of the period. At most the first
    1,000 (earliest first); ``X-Total-Count`` says how many the number counted."""
    context = context_for(reads, user, filters)
    found = drill.requests_behind(
        reads, offerings=context.offerings, period=context.period, metric=metric, day=day
    )
    # The list holds the first drill.LIMIT; the header says how many the number counted.
    response.headers["X-Total-Count"] = str(found.total)
    return [RequestBehindOut.model_validate(row) for row in found.requests]


@router.get("/forecast")
def forecast(
    reads: AnalyticsSession,
    user: ApiUser,
    filters: FilterQuery,
    items: Annotated[int | None, Query(ge=0, le=100_000)] = None,
    days: Annotated[int, Query(ge=1, le=365)] = 14,
    output: OutputFormat = "json",
) -> Response:
    """When will N open requests be done, and how many in the next D days (50/85/95 %)."""
    table = reports.forecast_table(context_for(reads, user, filters), items=items, days=days)
    return table_response(table, output)


@router.get("/{name}")
def table(
    name: str,
    reads: AnalyticsSession,
    user: ApiUser,
    filters: FilterQuery,
    output: OutputFormat = "json",
) -> Response:
    """One insights table (adoption, rejection, flow, throughput, …) as rows."""
    build = reports.TABLES.get(name)
    if build is None:
        raise HTTPException(404, f"no analytics table {name!r}; one of {', '.join(reports.TABLES)}")
    return table_response(build(context_for(reads, user, filters)), output)
