"""Adoption and rejection per offering, counted from the Event log (docs/metrics.md)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from servicebay.analytics.scope import Period
from servicebay.catalog.models import Offering
from servicebay.core import clock
from servicebay.core.events import Event
from servicebay.core.identity import Membership, Team, User
from servicebay.requests.models import Request

COUNTED = (
    "offering.viewed",
    "offering.form_started",
    "request.submitted",
    "request.completed",
    "request.cancelled",
    "request.rejected",
    "request.failed",
    "run.attempt_failed",
)
ABANDON_AFTER = timedelta(hours=24)
ZERO_UPTAKE_DAYS = 30
LOW_RATING = 2


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
    # the verdict
    classification: str = "adopted"
    rule: str = ""


def _counts(
    session: Session, offering_ids: Sequence[int], period: Period
) -> dict[tuple[int, str], int]:
    statement = (
        select(Event.offering_id, Event.type, func.count())
        .where(
            Event.type.in_(COUNTED),
            Event.offering_id.in_(offering_ids),
            Event.occurred_at >= period.since,
            Event.occurred_at < period.until,
        )
        .group_by(Event.offering_id, Event.type)
    )
    return {(row[0] or 0, row[1]): row[2] for row in session.execute(statement)}


def _submissions(
    session: Session, offering_ids: Sequence[int], since: datetime, until: datetime
) -> list[tuple[int, int | None, int | None, datetime]]:
    """(offering, requester, requesting team, when) of every submission in [since, until)."""
    statement = (
        select(Request.offering_id, Event.actor_id, Request.team_id, Event.occurred_at)
        .join(Request, Request.id == Event.request_id)
        .where(
            Event.type == "request.submitted",
            Event.offering_id.in_(offering_ids),
            Event.occurred_at >= since,
            Event.occurred_at < until,
        )
    )
    return [(row[0], row[1], row[2], row[3]) for row in session.execute(statement)]


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
    now = _counts(session, ids, period)
    before = _counts(session, ids, period.previous())
    submissions = _submissions(session, ids, period.since, period.until)
    per_requester: dict[int, Counter[int | None]] = defaultdict(Counter)
    teams: dict[int, set[int]] = defaultdict(set)
    for offering_id, actor_id, team_id, _ in submissions:
        per_requester[offering_id][actor_id] += 1
        if team_id is not None:
            teams[offering_id].add(team_id)
    audience = active_users_of_eligible_teams(session)
    rows = []
    for offering in offerings:
        submitted = now.get((offering.id, "request.submitted"), 0)
        previous = before.get((offering.id, "request.submitted"), 0)
        requesters = per_requester[offering.id]
        repeat = sum(1 for count in requesters.values() if count >= 2)
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
                unique_requesters=len(requesters),
                unique_teams=len(teams[offering.id]),
                repeat_share=repeat / len(requesters) if requesters else None,
                previous_submitted=previous,
                trend=(submitted - previous) / previous if previous else None,
                reach=len(requesters) / audience if audience else None,
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
    groups: dict[tuple[int, int | None], set[int | None]] = defaultdict(set)
    counts: Counter[tuple[int, int | None]] = Counter()
    for offering_id, actor_id, team_id, _ in _submissions(
        session, list(by_id), period.since, period.until
    ):
        counts[(offering_id, team_id)] += 1
        groups[(offering_id, team_id)].add(actor_id)
    rows = [
        TeamAdoptionRow(
            offering_slug=by_id[offering_id].slug,
            offering_name=by_id[offering_id].name,
            team=team_names.get(team_id, "no team") if team_id is not None else "no team",
            submitted=count,
            unique_requesters=len(groups[(offering_id, team_id)]),
        )
        for (offering_id, team_id), count in counts.items()
    ]
    return sorted(rows, key=lambda row: (row.offering_name, -row.submitted, row.team))


# --- rejection ---------------------------------------------------------------


def _abandoned(session: Session, offering_ids: Sequence[int], period: Period) -> Counter[int]:
    """Form starts judged abandoned: no submission by the same person within 24 h."""
    judged_until = min(period.until, clock.now())
    starts = session.execute(
        select(Event.offering_id, Event.actor_id, Event.occurred_at).where(
            Event.type == "offering.form_started",
            Event.offering_id.in_(offering_ids),
            Event.occurred_at >= period.since,
            Event.occurred_at < period.until,
        )
    ).all()
    submitted: dict[tuple[int, int | None], list[datetime]] = defaultdict(list)
    for offering_id, actor_id, _, at in _submissions(
        session, offering_ids, period.since, period.until + ABANDON_AFTER
    ):
        submitted[(offering_id, actor_id)].append(at)
    abandoned: Counter[int] = Counter()
    for started_offering, starter, at in starts:
        if started_offering is None or at + ABANDON_AFTER > judged_until:
            continue
        deadline = at + ABANDON_AFTER
        tries = submitted[(started_offering, starter)]
        if not any(at <= moment <= deadline for moment in tries):
            abandoned[started_offering] += 1
    return abandoned


def _ratings(session: Session, offering_ids: Sequence[int], period: Period) -> dict[int, list[int]]:
    rows = session.execute(
        select(Event.offering_id, Event.data).where(
            Event.type == "request.rated",
            Event.offering_id.in_(offering_ids),
            Event.occurred_at >= period.since,
            Event.occurred_at < period.until,
        )
    )
    ratings: dict[int, list[int]] = defaultdict(list)
    for offering_id, data in rows:
        rating = (data or {}).get("rating")
        if isinstance(rating, int | float):
            ratings[offering_id].append(int(rating))
    return ratings


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


def _last_submissions(
    session: Session, offering_ids: Sequence[int], until: datetime
) -> dict[int, datetime]:
    statement = (
        select(Event.offering_id, func.max(Event.occurred_at))
        .where(
            Event.type == "request.submitted",
            Event.offering_id.in_(offering_ids),
            Event.occurred_at < until,
        )
        .group_by(Event.offering_id)
    )
    return {row[0]: row[1] for row in session.execute(statement) if row[0] is not None}


def rejection(
    session: Session, *, offerings: Sequence[Offering], period: Period
) -> list[RejectionRow]:
    """Rejection signals per offering, by source, and the class each offering falls in."""
    offerings = _published(offerings)
    ids = [offering.id for offering in offerings]
    counts = _counts(session, ids, period)
    before = _counts(session, ids, period.previous())
    abandoned = _abandoned(session, ids, period)
    ratings = _ratings(session, ids, period)
    reasons = _reasons(session, ids, period)
    last = _last_submissions(session, ids, period.until)
    rows = []
    for offering in offerings:
        mine = ratings.get(offering.id, [])
        since_last = last.get(offering.id) or offering.created_at
        days_idle = (period.until - since_last).days
        row = RejectionRow(
            offering_id=offering.id,
            offering_slug=offering.slug,
            offering_name=offering.name,
            form_starts=counts.get((offering.id, "offering.form_started"), 0),
            abandoned=abandoned.get(offering.id, 0),
            cancelled=counts.get((offering.id, "request.cancelled"), 0),
            ratings=len(mine),
            low_ratings=sum(1 for rating in mine if rating <= LOW_RATING),
            average_rating=sum(mine) / len(mine) if mine else None,
            days_without_uptake=days_idle if days_idle >= ZERO_UPTAKE_DAYS else None,
            approval_rejections=counts.get((offering.id, "request.rejected"), 0),
            reasons=reasons.get(offering.id, Counter()).most_common(),
            failed=counts.get((offering.id, "request.failed"), 0),
            retries=counts.get((offering.id, "run.attempt_failed"), 0),
        )
        verdict, rule = classify(
            row,
            submitted=counts.get((offering.id, "request.submitted"), 0),
            previous=before.get((offering.id, "request.submitted"), 0),
        )
        rows.append(_with_verdict(row, verdict, rule))
    return rows


def _with_verdict(row: RejectionRow, verdict: str, rule: str) -> RejectionRow:
    return replace(row, classification=verdict, rule=rule)


def classify(row: RejectionRow, *, submitted: int, previous: int) -> tuple[str, str]:
    """The class of an offering and the rule, with its numbers, that put it there."""
    if submitted == 0:
        return "unused", "no submission in the period"
    turned_down = row.approval_rejections + row.cancelled
    if turned_down * 2 >= submitted:
        return (
            "rejected",
            f"{turned_down} of {submitted} submissions rejected or cancelled (≥ 50 %)",
        )
    if row.form_starts >= 4 and row.abandoned * 2 >= row.form_starts:
        return "rejected", f"{row.abandoned} of {row.form_starts} form starts abandoned (≥ 50 %)"
    if row.ratings >= 3 and row.average_rating is not None and row.average_rating <= 2.5:
        return (
            "rejected",
            f"average rating {row.average_rating:.1f} from {row.ratings} ratings (≤ 2.5)",
        )
    if previous == 0 and submitted >= 3:
        return "growing", f"{submitted} submissions after none in the previous period"
    if previous == 0:
        return "adopted", f"{submitted} submissions after none in the previous period (< 3)"
    # Whole numbers: 5·change ≥ previous is "at least 20 %", with no rounding error.
    if 5 * (submitted - previous) >= previous:
        change = (submitted - previous) / previous
        return (
            "growing",
            f"submissions {change:+.0%} vs previous period ({submitted} vs {previous})",
        )
    if 5 * (previous - submitted) >= previous:
        change = (submitted - previous) / previous
        return (
            "declining",
            f"submissions {change:+.0%} vs previous period ({submitted} vs {previous})",
        )
    return "adopted", f"{submitted} submissions, within ±20 % of the previous period ({previous})"
