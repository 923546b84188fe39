"""Adoption and rejection per offering, counted from the Event log (docs/metrics.md)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from servicebay.analytics import rollup
from servicebay.analytics.scope import Period
from servicebay.catalog import browse
from servicebay.catalog.models import Offering
from servicebay.core import clock
from servicebay.core.cache import PerDatabase
from servicebay.core.events import Event
from servicebay.core.identity import Membership, Team, User
from servicebay.requests.models import Request

ZERO_UPTAKE_DAYS = 30
LATELY = timedelta(days=30)
MOST_REQUESTED_KEPT = 100


@dataclass(frozen=True)
class AdoptionRow:
    offering_id: int
    offering_slug: str
    offering_name: str
    owner_team: str
    work_kind: str
    views: int
    form_starts: int
    submitted: int
    completed: int
    unique_requesters: int
    unique_teams: int
    repeat_share: float | None
    previous_submitted: int
    trend: float | None
    reach: float | None


@dataclass(frozen=True)
class TeamAdoptionRow:
    offering_slug: str
    offering_name: str
    team: str
    submitted: int
    unique_requesters: int


@dataclass(frozen=True)
class RejectionRow:
    offering_id: int
    offering_slug: str
    offering_name: str
    # by users
    form_starts: int
    abandoned: int
    cancelled: int
    ratings: int
    low_ratings: int
    average_rating: float | None
    days_without_uptake: int | None
    # by the organisation
    approval_rejections: int
    reasons: list[tuple[str, int]] = field(default_factory=list)
    # by the system
    failed: int = 0
    retries: int = 0


def _counts(
    session: Session, offering_ids: Sequence[int], period: Period, recent: rollup.Tail
) -> dict[tuple[int, str], int]:
    found = _found(session, offering_ids, period, recent)
    return {key: events for key, (events, _) in found.items()}


def _found(
    session: Session, offering_ids: Sequence[int], period: Period, recent: rollup.Tail
) -> dict[tuple[int, str], tuple[int, int]]:
    """(events, total) per (offering, type) over the period's local days, exactly."""
    return rollup.counts_between(
        session, offering_ids=offering_ids, since=period.since, until=period.until, recent=recent
    )


def _requesters(
    session: Session, offering_ids: Sequence[int], period: Period
) -> dict[int, tuple[int, int, int]]:
    """Per offering: unique requesters, those who asked twice or more, unique teams.

    One pass over the period's submissions: grouped by (offering, requester, team) first.
    """
    pairs = (
        select(
            Request.offering_id,
            Request.requester_id,
            Request.team_id,
            func.count().label("asked"),
        )
        .where(
            Request.offering_id.in_(offering_ids),
            Request.submitted_at >= period.since,
            Request.submitted_at < period.until,
        )
        .group_by(Request.offering_id, Request.requester_id, Request.team_id)
        .cte("pairs")
    )
    per_requester = (
        select(pairs.c.offering_id, pairs.c.requester_id, func.sum(pairs.c.asked).label("asked"))
        .group_by(pairs.c.offering_id, pairs.c.requester_id)
        .subquery()
    )
    requesters = (
        select(
            per_requester.c.offering_id,
            func.count().label("unique"),
            func.count(case((per_requester.c.asked >= 2, 1))).label("repeat"),
        )
        .group_by(per_requester.c.offering_id)
        .subquery()
    )
    teams = (
        select(pairs.c.offering_id, func.count(func.distinct(pairs.c.team_id)).label("teams"))
        .group_by(pairs.c.offering_id)
        .subquery()
    )
    # One statement, so the submissions are read once (the CTE is shared).
    rows = session.execute(
        select(
            requesters.c.offering_id, requesters.c.unique, requesters.c.repeat, teams.c.teams
        ).join(teams, teams.c.offering_id == requesters.c.offering_id)
    )
    return {row[0]: (int(row[1]), int(row[2]), int(row[3])) for row in rows}


def most_requested(session: Session, *, catalog_token: str) -> list[tuple[int, int]]:
    """(offering id, requests) of the last 30 days, most first: enough to fill the home
    page's "popular" row for viewers who may not see the very top. Counted at most once a
    minute per catalog state in each process (``browse.RECENT_FIGURES_MAX_AGE_SECONDS``)."""
    return _most_requested.get(session, catalog_token, lambda: _count_lately(session))


def _count_lately(session: Session) -> list[tuple[int, int]]:
    statement = (
        select(Request.offering_id, func.count(Request.id))
        .where(Request.submitted_at >= clock.now() - LATELY)
        .group_by(Request.offering_id)
        .order_by(func.count(Request.id).desc(), Request.offering_id)
        .limit(MOST_REQUESTED_KEPT)
    )
    return [(offering_id, count) for offering_id, count in session.execute(statement)]


_most_requested: PerDatabase[list[tuple[int, int]]] = PerDatabase(
    max_age=browse.RECENT_FIGURES_MAX_AGE_SECONDS
)


def active_users_of_eligible_teams(session: Session) -> int:
    statement = (
        select(func.count(func.distinct(Membership.user_id)))
        .join(User, User.id == Membership.user_id)
        .where(User.is_active.is_(True))
    )
    return session.scalar(statement) or 0


def _published(offerings: Sequence[Offering]) -> list[Offering]:
    return [offering for offering in offerings if offering.status != "draft"]


def adoption(
    session: Session, *, offerings: Sequence[Offering], period: Period
) -> list[AdoptionRow]:
    """One row per offering that is or was in the catalog, most submitted first."""
    offerings = _published(offerings)
    ids = [offering.id for offering in offerings]
    recent = rollup.tail(session, ids)
    now = _counts(session, ids, period, recent)
    before = _counts(session, ids, period.previous(), recent)
    requesters = _requesters(session, ids, period)
    audience = active_users_of_eligible_teams(session)
    rows = []
    for offering in offerings:
        submitted = now.get((offering.id, "request.submitted"), 0)
        previous = before.get((offering.id, "request.submitted"), 0)
        unique, repeat, teams = requesters.get(offering.id, (0, 0, 0))
        rows.append(
            AdoptionRow(
                offering_id=offering.id,
                offering_slug=offering.slug,
                offering_name=offering.name,
                owner_team=offering.owner_team.name,
                work_kind=offering.work_kind,
                views=now.get((offering.id, "offering.viewed"), 0),
                form_starts=now.get((offering.id, "offering.form_started"), 0),
                submitted=submitted,
                completed=now.get((offering.id, "request.completed"), 0),
                unique_requesters=unique,
                unique_teams=teams,
                repeat_share=repeat / unique if unique else None,
                previous_submitted=previous,
                trend=(submitted - previous) / previous if previous else None,
                reach=unique / audience if audience else None,
            )
        )
    return sorted(rows, key=lambda row: (-row.submitted, row.offering_name))


def adoption_by_team(
    session: Session, *, offerings: Sequence[Offering], period: Period
) -> list[TeamAdoptionRow]:
    """Submissions per offering and requesting team."""
    offerings = _published(offerings)
    by_id = {offering.id: offering for offering in offerings}
    team_names: dict[int, str] = {
        row[0]: row[1] for row in session.execute(select(Team.id, Team.name))
    }
    grouped = session.execute(
        select(
            Request.offering_id,
            Request.team_id,
            func.count(),
            func.count(func.distinct(Request.requester_id)),
        )
        .where(
            Request.offering_id.in_(list(by_id)),
            Request.submitted_at >= period.since,
            Request.submitted_at < period.until,
        )
        .group_by(Request.offering_id, Request.team_id)
    )
    rows = [
        TeamAdoptionRow(
            offering_slug=by_id[offering_id].slug,
            offering_name=by_id[offering_id].name,
            team=team_names.get(team_id, "no team") if team_id is not None else "no team",
            submitted=count,
            unique_requesters=unique,
        )
        for offering_id, team_id, count, unique in grouped
    ]
    return sorted(rows, key=lambda row: (row.offering_name, -row.submitted, row.team))


# --- rejection ---------------------------------------------------------------


def _reasons(
    session: Session, offering_ids: Sequence[int], period: Period
) -> dict[int, Counter[str]]:
    rows = session.execute(
        select(Event.offering_id, Event.data).where(
            Event.type == "request.rejected",
            Event.offering_id.in_(offering_ids),
            Event.occurred_at >= period.since,
            Event.occurred_at < period.until,
        )
    )
    reasons: dict[int, Counter[str]] = defaultdict(Counter)
    for offering_id, data in rows:
        reason = str((data or {}).get("reason") or "").strip() or "no reason given"
        reasons[offering_id][reason] += 1
    return reasons


def rejection(
    session: Session, *, offerings: Sequence[Offering], period: Period
) -> list[RejectionRow]:
    """Rejection signals per offering, by source (their verdicts: health.judge)."""
    offerings = _published(offerings)
    ids = [offering.id for offering in offerings]
    recent = rollup.tail(session, ids)
    last = period.last_day
    found = _found(session, ids, period, recent)
    counts = {key: events for key, (events, _) in found.items()}
    reasons = _reasons(session, ids, period)
    last_asked = rollup.last_local_days_submitted(
        session, offering_ids=ids, until=period.until, zone=period.zone, recent=recent
    )
    rows = []
    for offering in offerings:
        ratings, rating_total = found.get((offering.id, "request.rated"), (0, 0))
        created = offering.created_at.astimezone(period.zone).date()
        idle = (last - last_asked.get(offering.id, created)).days
        rows.append(
            RejectionRow(
                offering_id=offering.id,
                offering_slug=offering.slug,
                offering_name=offering.name,
                form_starts=counts.get((offering.id, "offering.form_started"), 0),
                abandoned=counts.get((offering.id, rollup.ABANDONED), 0),
                cancelled=counts.get((offering.id, "request.cancelled"), 0),
                ratings=ratings,
                low_ratings=counts.get((offering.id, rollup.RATED_LOW), 0),
                average_rating=rating_total / ratings if ratings else None,
                days_without_uptake=idle if idle >= ZERO_UPTAKE_DAYS else None,
                approval_rejections=counts.get((offering.id, "request.rejected"), 0),
                reasons=reasons.get(offering.id, Counter()).most_common(),
                failed=counts.get((offering.id, "request.failed"), 0),
                retries=counts.get((offering.id, "run.attempt_failed"), 0),
            )
        )
    return rows
