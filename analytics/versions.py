"""Versions compared: each published version of an offering beside the others
(docs/metrics.md, "Versions compared"), so an owner sees whether v3 fixed what v2 broke."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from servicebay.analytics import flow, rollup
from servicebay.analytics.percentiles import floor_rank
from servicebay.catalog.models import Offering, OfferingVersion
from servicebay.core import clock
from servicebay.core.events import Event
from servicebay.requests.models import Request


@dataclass(frozen=True)
class VersionRow:
    number: int
    published_at: datetime
    # The version was current from its publication until the next one's (None: still).
    replaced_at: datetime | None
    submitted: int
    requesters: int
    form_starts: int
    abandoned: int
    turned_down: int
    completed: int
    lead_p85_days: float | None
    ratings: int
    average_rating: float | None

    @property
    def abandonment(self) -> float | None:
        return flow.ratio(self.abandoned, self.form_starts)

    @property
    def rejection(self) -> float | None:
        return flow.ratio(self.turned_down, self.submitted)


def _last_day(replaced: datetime | None, today: date) -> date:
    """The last UTC day a version counts form starts for: the day before the next
    version's publication day (that day is the next version's), or today."""
    return today if replaced is None else replaced.date() - timedelta(days=1)


def compare(session: Session, *, offering: Offering) -> list[VersionRow]:
    """Every published version of ``offering``, oldest first.

    Requests, rejections, lead times and ratings belong to the version a request was
    made on; form starts and abandonment to the version current on the day they happened.
    """
    versions = list(
        session.scalars(
            select(OfferingVersion)
            .where(
                OfferingVersion.offering_id == offering.id,
                OfferingVersion.published_at.is_not(None),
            )
            .order_by(OfferingVersion.published_at, OfferingVersion.number)
        )
    )
    if not versions:
        return []
    per_version: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    rows = session.execute(
        select(Request.offering_version_id, Request.status, func.count())
        .where(Request.offering_id == offering.id)
        .group_by(Request.offering_version_id, Request.status)
    )
    for version_id, status, count in rows:
        counts = per_version[version_id]
        counts["submitted"] += count
        counts[status] += count
    # Ratings as every insight counts them: request.rated events (docs/metrics.md).
    rated = session.execute(
        select(
            Request.offering_version_id,
            func.count(),
            func.coalesce(func.sum(Event.data["rating"].as_integer()), 0),
        )
        .join(Request, Request.id == Event.request_id)
        .where(Event.type == "request.rated", Request.offering_id == offering.id)
        .group_by(Request.offering_version_id)
    )
    for version_id, ratings, rating_total in rated:
        per_version[version_id]["ratings"] += ratings
        per_version[version_id]["rating_total"] += int(rating_total or 0)
    requesters = dict(
        session.execute(
            select(Request.offering_version_id, func.count(func.distinct(Request.requester_id)))
            .where(Request.offering_id == offering.id)
            .group_by(Request.offering_version_id)
        ).all()
    )
    now = clock.now()
    first = versions[0].published_at
    assert first is not None
    everything = flow.Scope(
        min(first, _first_request(session, offering) or first), now, (offering.id,)
    )
    version_of = dict(
        session.execute(
            select(Request.id, Request.offering_version_id).where(
                Request.offering_id == offering.id
            )
        ).all()
    )
    lead_days: dict[int, list[int]] = defaultdict(list)
    for done in flow.completed_in(flow.load(session, everything), everything):
        lead_days[version_of[done.request_id]].append(done.lead_days)
    today = now.date()
    recent = rollup.tail(session, [offering.id])
    result = []
    for index, version in enumerate(versions):
        assert version.published_at is not None
        replaced = versions[index + 1].published_at if index + 1 < len(versions) else None
        window = rollup.counts(
            session,
            offering_ids=[offering.id],
            first_day=version.published_at.date(),
            last_day=_last_day(replaced, today),
            recent=recent,
        )
        counts = per_version[version.id]
        ratings = counts["ratings"]
        result.append(
            VersionRow(
                number=version.number,
                published_at=version.published_at,
                replaced_at=replaced,
                submitted=counts["submitted"],
                requesters=int(requesters.get(version.id, 0)),
                form_starts=window.get((offering.id, "offering.form_started"), (0, 0))[0],
                abandoned=window.get((offering.id, rollup.ABANDONED), (0, 0))[0],
                turned_down=counts["rejected"] + counts["cancelled"],
                completed=counts["completed"],
                lead_p85_days=floor_rank(lead_days.get(version.id, []), 85),
                ratings=ratings,
                average_rating=counts["rating_total"] / ratings if ratings else None,
            )
        )
    return result


def _first_request(session: Session, offering: Offering) -> datetime | None:
    return session.scalar(
        select(func.min(Request.submitted_at)).where(Request.offering_id == offering.id)
    )
