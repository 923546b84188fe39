"""A team's retrospective digest: what its offerings did in the last cadence window.

Per owner team, over the last whole days of its cadence (weekly by default) before today:
what flowed, what waited and where, what failed and how fast it recovered, what was rated
low and why, the top unmet demand, and offerings whose verdict changed (docs/metrics.md,
"Retrospective digest"). Every number reuses the flow, rejection and health counts of
/insights, so the digest and the insights pages can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, timedelta, tzinfo

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from servicebay.analytics import flow, rollup
from servicebay.analytics.models import TeamDigest
from servicebay.analytics.reports import Context
from servicebay.analytics.scope import (
    Period,
    period_of_days,
    reporting_zone,
    visible_offerings,
    visible_teams,
)
from servicebay.catalog import demand as demand_service
from servicebay.catalog.models import Demand, Offering
from servicebay.core import clock
from servicebay.core.errors import Denied, Invalid, NotFound
from servicebay.core.identity import Membership, Role, Team, User
from servicebay.requests import notifications
from servicebay.requests.models import Request

WEEKLY = 7
# The cadences a team may choose, in days.
CADENCES = (7, 14, 28)
# How many of each list a lead reads: the rest is on /insights.
SHOWN = 5
STAGE_LABELS = {
    "approval": "waiting for approval",
    "queue": "queued for fulfilment",
    "fulfilment": "in fulfilment",
    "recovery": "recovering from a failure",
}


class TeamNotFound(NotFound):
    def __init__(self, slug: str) -> None:
        super().__init__(f"no team {slug!r} whose insights you may read")


@dataclass(frozen=True)
class Waited:
    stage: str
    label: str
    hours: float
    share: float | None


@dataclass(frozen=True)
class OldestOpen:
    request_id: int
    offering_name: str
    status: str
    age_days: int


@dataclass(frozen=True)
class LowRating:
    request_id: int
    offering_name: str
    score: int
    comment: str


@dataclass(frozen=True)
class VerdictChange:
    offering_slug: str
    offering_name: str
    before: str
    now: str
    number: str
    rule: str


@dataclass(frozen=True)
class Digest:
    team: Team
    cadence_days: int
    period: Period
    completed: int
    previous_completed: int
    lead_p85_days: float | None
    wip: int
    waited: list[Waited]
    oldest_open: list[OldestOpen]
    failed: int
    recoveries: int
    recovery_p50_hours: float | None
    low_ratings: list[LowRating]
    unmet_demand: list[Demand]
    verdict_changes: list[VerdictChange]

    @property
    def first_day(self) -> date:
        return self.period.first_day

    @property
    def last_day(self) -> date:
        return self.period.last_day


def window(cadence_days: int, *, today: date | None = None, zone: tzinfo = UTC) -> Period:
    """The last ``cadence_days`` whole local days (of ``zone``) before today there: a
    finished window, so a digest sent on Monday morning reads the same all day."""
    today = today or clock.now().astimezone(zone).date()
    last = today - timedelta(days=1)
    return period_of_days(last - timedelta(days=cadence_days - 1), last, zone=zone)


def zone_of(session: Session, team: Team) -> tzinfo:
    """Whose days the team's digest counts: the team's own zone, else the organisation's."""
    return reporting_zone(session, team_slug=team.slug)


def cadence_of(session: Session, *, team: Team) -> int:
    """How many days a window of the team's digest spans (weekly unless the team chose)."""
    settings = session.get(TeamDigest, team.id)
    return settings.cadence_days if settings is not None else WEEKLY


def sets_cadence(user: User, team: Team) -> bool:
    """Whether ``user`` may set how often ``team``'s digest comes: its leads and
    administrators."""
    return user.is_admin or user.role_in(team.id) is Role.LEAD


def set_cadence(session: Session, *, actor: User, team_slug: str, cadence_days: int) -> int:
    """A lead of the team sets how often its digest comes."""
    team = _readable_team(session, viewer=actor, team_slug=team_slug)
    if not sets_cadence(actor, team):
        raise Denied("only a lead of the team sets how often its digest comes")
    if cadence_days not in CADENCES:
        choices = ", ".join(str(days) for days in CADENCES)
        raise Invalid(problems={"cadence_days": f"one of {choices} days"})
    settings = session.get(TeamDigest, team.id)
    if settings is None:
        settings = TeamDigest(team_id=team.id, updated_at=clock.now())
        session.add(settings)
    settings.cadence_days = cadence_days
    settings.updated_at = clock.now()
    session.flush()
    return cadence_days


def digest(session: Session, *, viewer: User, team_slug: str) -> Digest:
    """The digest of ``team_slug``'s offerings, as ``viewer`` may read it."""
    team = _readable_team(session, viewer=viewer, team_slug=team_slug)
    offerings = visible_offerings(session, viewer=viewer, team_slug=team.slug)
    return _digest_of(session, team, offerings, cadence_of(session, team=team))


def send_due(session: Session) -> None:
    """A worker chore: each owner team whose window has ended since its last digest gets
    it, in the app and by email as each member chose (topic ``digest``), once per window."""
    owners = (
        select(Team, TeamDigest)
        .outerjoin(TeamDigest, TeamDigest.team_id == Team.id)
        .where(Team.id.in_(select(Offering.owner_team_id)))
        .order_by(Team.id)
    )
    for team, chosen in list(session.execute(owners)):
        settings: TeamDigest | None = chosen  # None for a team that never had a digest
        cadence = settings.cadence_days if settings is not None else WEEKLY
        sent = settings.sent_through if settings is not None else None
        zone = zone_of(session, team)
        today = clock.now().astimezone(zone).date()
        if sent is not None and today <= sent + timedelta(days=cadence):
            continue
        last_day = window(cadence, today=today, zone=zone).last_day
        if not _claim(session, team=team, settings=settings, last_day=last_day):
            continue  # another worker sends this window
        offerings = list(
            session.scalars(
                select(Offering).where(Offering.owner_team_id == team.id).order_by(Offering.name)
            )
        )
        found = _digest_of(session, team, offerings, cadence)
        members = list(
            session.scalars(select(Membership.user_id).where(Membership.team_id == team.id))
        )
        notifications.tell_people(session, _notice(found), user_ids=members)


def _claim(session: Session, *, team: Team, settings: TeamDigest | None, last_day: date) -> bool:
    """Mark the window through ``last_day`` as sent, in the transaction that sends it: of
    two workers sweeping at once, one marks it (the other waits for the row, then finds it
    marked, or its insert of a first row fails and its sweep rolls back)."""
    now = clock.now()
    if settings is None:
        session.add(TeamDigest(team_id=team.id, sent_through=last_day, updated_at=now))
        session.flush()
        return True
    marked = session.execute(
        update(TeamDigest)
        .where(
            TeamDigest.team_id == team.id,
            or_(TeamDigest.sent_through.is_(None), TeamDigest.sent_through < last_day),
        )
        .values(sent_through=last_day, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(marked, "rowcount", 0))


def _notice(found: Digest) -> notifications.Notice:
    since, until = found.first_day.isoformat(), found.last_day.isoformat()
    details = [
        ("Completed", f"{found.completed} (before: {found.previous_completed})"),
        ("Still open", str(found.wip)),
        ("Failed", f"{found.failed}, {found.recoveries} recovered"),
        ("Rated low", str(len(found.low_ratings))),
    ]
    if found.waited:
        details.append(("Waited longest", found.waited[0].label))
    if found.unmet_demand:
        details.append(("Top unmet demand", found.unmet_demand[0].title))
    details += [
        ("Verdict changed", f"{change.offering_name}: {change.before} to {change.now}")
        for change in found.verdict_changes
    ]
    return notifications.Notice(
        "digest",
        None,
        f"{found.team.name}'s retrospective digest, {since} to {until}.",
        (notifications.Link("Open the digest", f"/insights/digest?team={found.team.slug}"),),
        tuple(details),
    )


def _readable_team(session: Session, *, viewer: User, team_slug: str) -> Team:
    team = next((t for t in visible_teams(session, viewer=viewer) if t.slug == team_slug), None)
    if team is None:
        raise TeamNotFound(team_slug)
    return team


def _digest_of(
    session: Session, team: Team, offerings: list[Offering], cadence_days: int
) -> Digest:
    period = window(cadence_days, zone=zone_of(session, team))
    context = Context(session, offerings, period)
    before = Context(session, offerings, period.previous())
    summary = context.summary()
    names = {offering.id: offering.name for offering in offerings}
    failed = sum(row.failed for row in context.rejection_rows())
    return Digest(
        team=team,
        cadence_days=cadence_days,
        period=period,
        completed=summary.completed,
        previous_completed=before.summary().completed,
        lead_p85_days=summary.lead_days.get(85),
        wip=summary.wip,
        waited=_waited(summary),
        oldest_open=_oldest_open(context, names),
        failed=failed,
        recoveries=summary.recoveries,
        recovery_p50_hours=summary.recovery_hours.get(50),
        low_ratings=_low_ratings(session, offerings, period),
        unmet_demand=demand_service.top(session, limit=SHOWN, team_id=team.id),
        verdict_changes=_verdict_changes(context, before),
    )


def _waited(summary: flow.FlowSummary) -> list[Waited]:
    total = sum(summary.stage_hours.values())
    found = [
        Waited(
            stage, STAGE_LABELS.get(stage, stage), round(hours, 1), hours / total if total else None
        )
        for stage, hours in summary.stage_hours.items()
        if hours > 0
    ]
    return sorted(found, key=lambda waited: -waited.hours)


def _oldest_open(context: Context, names: dict[int, str]) -> list[OldestOpen]:
    items = flow.open_items(context.flows(), as_of=context.as_of)[:SHOWN]
    return [
        OldestOpen(item.request_id, names.get(item.offering_id, ""), item.status, item.age_days)
        for item in items
    ]


def _low_ratings(session: Session, offerings: list[Offering], period: Period) -> list[LowRating]:
    ids = [offering.id for offering in offerings]
    names = {offering.id: offering.name for offering in offerings}
    statement = (
        select(Request.id, Request.offering_id, Request.rating, Request.rating_comment)
        .where(
            Request.offering_id.in_(ids or [-1]),
            Request.rating <= rollup.LOW_RATING,
            Request.rated_at >= period.since,
            Request.rated_at < period.until,
        )
        .order_by(Request.rating, Request.rated_at, Request.id)
        .limit(SHOWN)
    )
    return [
        LowRating(request_id, names[offering_id], score or 0, comment or "no comment given")
        for request_id, offering_id, score, comment in session.execute(statement)
    ]


def _verdict_changes(context: Context, before: Context) -> list[VerdictChange]:
    earlier_of = {found.offering_id: found for found in before.health_rows()}
    changes = []
    for now in context.health_rows():
        earlier = earlier_of.get(now.offering_id)
        if earlier is not None and earlier.verdict != now.verdict:
            changes.append(
                VerdictChange(
                    now.offering_slug,
                    now.offering_name,
                    earlier.verdict,
                    now.verdict,
                    now.number,
                    now.rule,
                )
            )
    return changes


def file_finding(
    session: Session, *, actor: User, team_slug: str, title: str, description: str = ""
) -> Demand:
    """Turn a finding of ``team_slug``'s digest into a need in that team's backlog."""
    team = _readable_team(session, viewer=actor, team_slug=team_slug)
    return demand_service.create(
        session, actor=actor, title=title[:200], description=description, team_slug=team.slug
    )
