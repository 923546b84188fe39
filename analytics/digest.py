"""A team's retrospective digest: what its offerings did in the last cadence window.

Per owner team, over the last whole days of its cadence (weekly by default) before today:
what flowed, what waited and where, what failed and how fast it recovered, what was rated
low and why, the top unmet demand, and offerings whose verdict changed (docs/metrics.md,
"Retrospective digest"). Every number reuses the flow, rejection and health counts of
/insights, so the digest and the insights pages can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from servicebay.analytics import adoption, flow, health, rollup
from servicebay.analytics.reports import Context
from servicebay.analytics.scope import Period, period_of_days, visible_offerings, visible_teams
from servicebay.catalog import demand as demand_service
from servicebay.catalog.models import Demand, Offering
from servicebay.core import clock
from servicebay.core.errors import NotFound
from servicebay.core.identity import Team, User
from servicebay.requests.models import Request

WEEKLY = 7
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
    def last_day(self) -> date:
        return (self.period.until - timedelta(days=1)).date()


def window(cadence_days: int, *, today: date | None = None) -> Period:
    """The last ``cadence_days`` whole days before today: a finished window, so a digest
    sent on Monday morning reads the same all day."""
    today = today or clock.now().date()
    last = today - timedelta(days=1)
    return period_of_days(last - timedelta(days=cadence_days - 1), last)


def digest(session: Session, *, viewer: User, team_slug: str, cadence_days: int = WEEKLY) -> Digest:
    """The digest of ``team_slug``'s offerings, as ``viewer`` may read it."""
    team = next((t for t in visible_teams(session, viewer=viewer) if t.slug == team_slug), None)
    if team is None:
        raise TeamNotFound(team_slug)
    offerings = visible_offerings(session, viewer=viewer, team_slug=team.slug)
    period = window(cadence_days)
    context = Context(session, offerings, period)
    before = Context(session, offerings, period.previous())
    summary = context.summary()
    names = {offering.id: offering.name for offering in offerings}
    failed = sum(
        row.failed for row in adoption.rejection(session, offerings=offerings, period=period)
    )
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
        verdict_changes=_verdict_changes(session, offerings, period),
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


def _verdict_changes(
    session: Session, offerings: list[Offering], period: Period
) -> list[VerdictChange]:
    before = {
        found.offering_id: found
        for found in health.offering_health(session, offerings=offerings, period=period.previous())
    }
    changes = []
    for now in health.offering_health(session, offerings=offerings, period=period):
        earlier = before.get(now.offering_id)
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
    team = next((t for t in visible_teams(session, viewer=actor) if t.slug == team_slug), None)
    if team is None:
        raise TeamNotFound(team_slug)
    return demand_service.create(
        session, actor=actor, title=title[:200], description=description, team_slug=team.slug
    )
