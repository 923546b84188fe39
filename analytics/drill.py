"""Drill-down: the requests behind a number on /insights."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from servicebay.analytics import flow
from servicebay.analytics.scope import Period, start_of
from servicebay.catalog.models import Offering
from servicebay.core.errors import Invalid
from servicebay.core.events import Event
from servicebay.requests.models import Request

# A number counts requests that had one of these events in the period...
EVENT_METRICS = ("submitted", "completed", "rejected", "cancelled", "failed")
# ...or were open at its end.
METRICS = (*EVENT_METRICS, "open")


class UnknownMetric(Invalid):
    """The drill-down names no metric that counts requests."""


@dataclass(frozen=True)
class RequestBehind:
    request_id: int
    offering: str  # its slug
    status: str
    submitted_at: datetime
    at: datetime | None
    offering_name: str = ""


@dataclass(frozen=True)
class Behind:
    """The first ``limit`` requests behind a number (earliest first) and how many it
    counted in all: a list cut short says so."""

    requests: list[RequestBehind]
    total: int

    @property
    def cut(self) -> bool:
        return self.total > len(self.requests)


LIMIT = 1000


def requests_behind(
    session: Session,
    *,
    offerings: Sequence[Offering],
    period: Period,
    metric: str,
    day: date | None = None,
    limit: int = LIMIT,
) -> Behind:
    """The requests a metric counted, optionally on one day of the period."""
    if metric not in METRICS:
        raise UnknownMetric(f"no drill-down for {metric!r}; one of {', '.join(METRICS)}")
    if day is not None:
        one_day = Period(
            start_of(day, period.zone), start_of(day + timedelta(days=1), period.zone), period.zone
        )
        period = Period(
            max(period.since, one_day.since), min(period.until, one_day.until), period.zone
        )
    slugs = {offering.id: offering.slug for offering in offerings}
    names = {offering.id: offering.name for offering in offerings}
    if metric == "open":
        flows = flow.load(
            session, flow.Scope(period.since, period.until, tuple(slugs), period.zone)
        )
        items = flow.open_items(flows, as_of=period.until, zone=period.zone)
        return Behind(
            [
                RequestBehind(
                    item.request_id,
                    slugs[item.offering_id],
                    item.status,
                    item.submitted_at,
                    None,
                    names[item.offering_id],
                )
                for item in items[:limit]
            ],
            len(items),
        )
    counted = (
        Event.type == f"request.{metric}",
        Event.offering_id.in_(list(slugs)),
        Event.occurred_at >= period.since,
        Event.occurred_at < period.until,
    )
    statement = (
        select(
            Request.id, Request.offering_id, Request.status, Request.submitted_at, Event.occurred_at
        )
        .join(Event, Event.request_id == Request.id)
        .where(*counted)
        .order_by(Event.occurred_at, Request.id)
        .limit(limit)
    )
    found = [
        RequestBehind(row[0], slugs[row[1]], row[2], row[3], row[4], names[row[1]])
        for row in session.execute(statement)
    ]
    total = len(found)
    if total == limit:
        joined = (
            select(func.count()).select_from(Event).join(Request, Event.request_id == Request.id)
        )
        total = session.scalar(joined.where(*counted)) or 0
    return Behind(found, total)
