"""What the home and offering pages show beside the catalog itself: popular and new
offerings, categories, top needs, and how an offering kept its service level lately."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session, lazyload

from servicebay.catalog import browse
from servicebay.catalog.demand import Demand, DemandState
from servicebay.catalog.models import Offering, OfferingVersion
from servicebay.core import clock
from servicebay.core.cache import PerDatabase
from servicebay.core.identity import User
from servicebay.requests.models import Request, RequestStatus

RECENT = timedelta(days=30)
SHOWN = 4
POPULAR_KEPT = 100
# Counts over the last month move with every request: kept for a minute, so that the
# pages every visitor opens do not count a month of requests on every visit.
RECENT_FIGURES_MAX_AGE_SECONDS = 60.0


def popular(session: Session, viewer: User, outline: browse.Snapshot) -> list[tuple[Offering, int]]:
    """The offerings the viewer may request that were requested most in the last 30 days."""
    requestable = outline.requestable(viewer)
    counted = _popular.get(session, outline.token, lambda: _most_requested(session))
    shown = [(id_, count) for id_, count in counted if id_ in requestable][:SHOWN]
    by_id = _offerings(session, [id_ for id_, _ in shown])
    return [(by_id[id_], count) for id_, count in shown if id_ in by_id]


def _most_requested(session: Session) -> list[tuple[int, int]]:
    """Request counts of the last 30 days, most first: enough to fill the showcase for
    viewers who may not see the very top."""
    since = clock.now() - RECENT
    statement = (
        select(Request.offering_id, func.count(Request.id))
        .where(Request.submitted_at >= since)
        .group_by(Request.offering_id)
        .order_by(func.count(Request.id).desc(), Request.offering_id)
        .limit(POPULAR_KEPT)
    )
    return [(offering_id, count) for offering_id, count in session.execute(statement)]


def newest(session: Session, viewer: User, outline: browse.Snapshot) -> list[Offering]:
    ids = outline.newest_ids(viewer, SHOWN)
    by_id = _offerings(session, ids)
    return [by_id[id_] for id_ in ids if id_ in by_id]


def _offerings(session: Session, ids: list[int]) -> dict[int, Offering]:
    if not ids:
        return {}
    cards = select(Offering).where(Offering.id.in_(ids)).options(lazyload(Offering.current_version))
    return {offering.id: offering for offering in session.scalars(cards)}


_popular: PerDatabase[list[tuple[int, int]]] = PerDatabase(max_age=RECENT_FIGURES_MAX_AGE_SECONDS)


def top_demands(session: Session) -> list[Demand]:
    statement = (
        select(Demand)
        .where(
            Demand.state.in_(
                [DemandState.NEW.value, DemandState.ACCEPTED.value, DemandState.PLANNED.value]
            )
        )
        .order_by(Demand.votes.desc(), Demand.id)
        .limit(3)
    )
    return list(session.scalars(statement))


@dataclass(frozen=True)
class Performance:
    """The promise (``target`` % within ``hours``) and how the last 30 days kept it."""

    target: float
    hours: float
    completed: int
    within: int

    @property
    def percent(self) -> int | None:
        return round(100 * self.within / self.completed) if self.completed else None

    @property
    def kept(self) -> bool:
        return self.percent is not None and self.percent >= self.target

    @property
    def promise(self) -> str:
        return f"{self.target:g} % within {duration_words(self.hours)}"


def recent_performance(
    session: Session, offering: Offering, version: OfferingVersion | None
) -> Performance | None:
    """Completions of the last 30 days, and how many came within the promised hours.

    Counted by the database, since a popular offering completes thousands a month, and
    kept for a minute per offering version: a busy offering page does not count again
    on every view."""
    if version is None or not version.sle_percent or not version.sle_hours:
        return None
    target, hours = version.sle_percent, version.sle_hours
    return _performance.get(
        session,
        (version.id, version.created_at, target, hours),  # this very version
        lambda: _count_performance(session, offering.id, target, hours),
        slot=offering.id,
    )


def _count_performance(
    session: Session, offering_id: int, target: float, hours: float
) -> Performance:
    since = clock.now() - RECENT
    in_time = _within_hours(session, hours)
    completed, within = session.execute(
        select(func.count(), func.coalesce(func.sum(case((in_time, 1), else_=0)), 0)).where(
            Request.offering_id == offering_id,
            Request.status == RequestStatus.COMPLETED.value,
            Request.closed_at >= since,
        )
    ).one()
    return Performance(target=target, hours=hours, completed=completed, within=within)


_performance: PerDatabase[Performance] = PerDatabase(max_age=RECENT_FIGURES_MAX_AGE_SECONDS)


def _within_hours(session: Session, hours: float) -> ColumnElement[bool]:
    """Closed no later than ``hours`` after submission, in the database's own date arithmetic."""
    if session.get_bind().dialect.name == "postgresql":
        limit = func.make_interval(0, 0, 0, 0, 0, 0, hours * 3600.0)  # years … seconds
        return Request.closed_at <= Request.submitted_at + limit
    # SQLite: days as floating point; the margin (below a tenth of a second) keeps a
    # request closed exactly at the limit inside it.
    elapsed_days = func.julianday(Request.closed_at) - func.julianday(Request.submitted_at)
    return elapsed_days <= hours / 24 + 1e-6


def duration_words(hours: float) -> str:
    if hours >= 24 and hours % 24 == 0:
        days = int(hours // 24)
        return f"{days} day{'s' if days != 1 else ''}"
    if hours >= 1:
        return f"{hours:g} hour{'s' if hours != 1 else ''}"
    return f"{round(hours * 60)} minutes"
