"""Service-level attainment, defined once (docs/metrics.md, "SLE hit rate").

A completed request is measured when the offering version it was made against (the
version it pinned) has a service-level expectation, ``sle_hours``; it kept it when its
lead time, from submission to completion, was at most that version's ``sle_hours``. A
later version with another promise does not judge requests made before it.

:func:`kept` is the rule for one request, as the flow summary applies it to replayed
requests; :func:`attainment` counts the same rule in the database (closing a completed
request is its completion), for pages that show it on every visit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from servicebay.catalog.models import Offering, OfferingVersion
from servicebay.core import clock
from servicebay.core.cache import PerDatabase
from servicebay.requests.models import Request, RequestStatus

RECENT = timedelta(days=30)
# Counts over the last month move with every request: kept for a minute, so that a busy
# offering page does not count a month of requests on every view.
RECENT_MAX_AGE_SECONDS = 60.0
# SQLite compares elapsed days as floating point: this margin (below a tenth of a
# second) keeps a request completed exactly at the limit inside it, as the rule says.
_SQLITE_MARGIN_DAYS = 1e-6


def kept(lead_hours: float, sle_hours: float) -> bool:
    """Whether a request completed ``lead_hours`` after submission kept a promise of
    ``sle_hours``."""
    return lead_hours <= sle_hours


@dataclass(frozen=True)
class Attainment:
    """Of the ``measured`` completions, how many kept their version's promise."""

    measured: int
    kept: int

    @property
    def rate(self) -> float | None:
        return self.kept / self.measured if self.measured else None

    @property
    def percent(self) -> int | None:
        rate = self.rate
        return None if rate is None else round(100 * rate)


def _kept_in_database(session: Session) -> ColumnElement[bool]:
    """:func:`kept` for the joined request and its pinned version, in the database's own
    date arithmetic."""
    if session.get_bind().dialect.name == "postgresql":
        limit = func.make_interval(0, 0, 0, 0, 0, 0, OfferingVersion.sle_hours * 3600.0)
        return Request.closed_at <= Request.submitted_at + limit
    elapsed_days = func.julianday(Request.closed_at) - func.julianday(Request.submitted_at)
    return elapsed_days <= OfferingVersion.sle_hours / 24.0 + _SQLITE_MARGIN_DAYS


def attainment(
    session: Session, *, offering_id: int, since: datetime, until: datetime | None = None
) -> Attainment:
    """SLE attainment of the offering's requests completed in [since, until) (until:
    open-ended when None)."""
    completed_before = [] if until is None else [Request.closed_at < until]
    measured, within = session.execute(
        select(func.count(), func.coalesce(func.sum(case((_kept_in_database(session), 1))), 0))
        .select_from(Request)
        .join(OfferingVersion, OfferingVersion.id == Request.offering_version_id)
        .where(
            Request.offering_id == offering_id,
            Request.status == RequestStatus.COMPLETED.value,
            Request.closed_at >= since,
            *completed_before,
            OfferingVersion.sle_hours.is_not(None),
        )
    ).one()
    return Attainment(measured=int(measured), kept=int(within))


def recent(session: Session, *, offering: Offering) -> Attainment:
    """:func:`attainment` over the last 30 days, counted at most once a minute per
    offering in each process (and again when the offering gets a new current version)."""
    return _recent.get(
        session,
        (offering.created_at, offering.current_version_id),  # this very offering
        lambda: attainment(session, offering_id=offering.id, since=clock.now() - RECENT),
        slot=offering.id,
    )


_recent: PerDatabase[Attainment] = PerDatabase(max_age=RECENT_MAX_AGE_SECONDS)


@dataclass(frozen=True)
class Performance:
    """What an offering promises now (``target`` % within ``hours``, from its current
    version) and how its requests of the last 30 days kept the promise they were made
    under."""

    target: float
    hours: float
    lately: Attainment

    @property
    def percent(self) -> int | None:
        return self.lately.percent

    @property
    def completed(self) -> int:
        return self.lately.measured

    @property
    def kept(self) -> bool:
        return self.percent is not None and self.percent >= self.target


def performance(
    session: Session, *, offering: Offering, version: OfferingVersion | None
) -> Performance | None:
    """The offering page's service-level figure; None when the version promises none."""
    if version is None or not version.sle_percent or not version.sle_hours:
        return None
    return Performance(
        target=version.sle_percent,
        hours=version.sle_hours,
        lately=recent(session, offering=offering),
    )
