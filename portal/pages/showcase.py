"""What the home and offering pages show beside the catalog itself: popular and new
offerings, categories, top needs, and how an offering kept its service level lately."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from servicebay.catalog.demand import Demand, DemandState
from servicebay.catalog.models import Offering, OfferingVersion
from servicebay.core import clock
from servicebay.requests.models import Request, RequestStatus

RECENT = timedelta(days=30)
SHOWN = 4
CLOSED_STATUSES = frozenset(
    {RequestStatus.COMPLETED.value, RequestStatus.REJECTED.value, RequestStatus.CANCELLED.value}
)


def popular(session: Session, visible: list[Offering]) -> list[tuple[Offering, int]]:
    """The visible offerings most requested in the last 30 days, with their counts."""
    by_id = {offering.id: offering for offering in visible if offering.status == "published"}
    since = clock.now() - RECENT
    statement = (
        select(Request.offering_id, func.count(Request.id))
        .where(Request.submitted_at >= since, Request.offering_id.in_(by_id or [-1]))
        .group_by(Request.offering_id)
        .order_by(func.count(Request.id).desc(), Request.offering_id)
        .limit(SHOWN)
    )
    return [(by_id[offering_id], count) for offering_id, count in session.execute(statement)]


def newest(visible: list[Offering]) -> list[Offering]:
    published = [offering for offering in visible if offering.status == "published"]
    return sorted(published, key=lambda o: (o.created_at, o.id), reverse=True)[:SHOWN]


def categories(visible: list[Offering]) -> list[tuple[str, int]]:
    counts = Counter(offering.category for offering in visible)
    return sorted(counts.items())


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
    if version is None or not version.sle_percent or not version.sle_hours:
        return None
    since = clock.now() - RECENT
    statement = select(Request.submitted_at, Request.closed_at).where(
        Request.offering_id == offering.id,
        Request.status == RequestStatus.COMPLETED.value,
        Request.closed_at >= since,
    )
    rows = session.execute(statement).all()
    limit = timedelta(hours=version.sle_hours)
    within = sum(
        1 for submitted, closed in rows if closed is not None and closed - submitted <= limit
    )
    return Performance(
        target=version.sle_percent, hours=version.sle_hours, completed=len(rows), within=within
    )


def duration_words(hours: float) -> str:
    if hours >= 24 and hours % 24 == 0:
        days = int(hours // 24)
        return f"{days} day{'s' if days != 1 else ''}"
    if hours >= 1:
        return f"{hours:g} hour{'s' if hours != 1 else ''}"
    return f"{round(hours * 60)} minutes"
