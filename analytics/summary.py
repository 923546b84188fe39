"""The answer first: a view's headline figures, each beside the previous period.

Every figure is defined in docs/metrics.md ("Summary"); it reuses the adoption, rejection,
flow and value counts of the tables below it on /insights, so the summary and the tables
can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from servicebay.analytics import adoption, flow
from servicebay.analytics.reports import Context
from servicebay.analytics.scope import Period
from servicebay.catalog.demand import OPEN_STATES
from servicebay.catalog.models import Demand
from servicebay.requests.models import Request

# How each figure reads: a count, a share (0..1, shown as a percentage), days or hours.
COUNT, SHARE, DAYS, HOURS = "count", "share", "days", "hours"


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    kind: str
    value: float | None
    previous: float | None
    # The drill-down metric behind the figure, if any ("" = none).
    drill: str = ""
    # Whether a higher value is better (True), worse (False), or neither (None).
    higher_is_better: bool | None = True

    @property
    def change(self) -> float | None:
        """The value minus the previous one, when both are known."""
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous


@dataclass(frozen=True)
class Summary:
    period: Period
    previous: Period
    offerings: int
    figures: list[Figure]

    def figure(self, key: str) -> Figure:
        return next(figure for figure in self.figures if figure.key == key)


@dataclass(frozen=True)
class _Measured:
    requests: int
    requesters: int
    teams: int
    reach: float | None
    adoption_rate: float | None
    users: int
    organisation: int
    system: int
    lead_p85_days: float | None
    sle_hit_rate: float | None
    automation_rate: float | None
    hours_saved: float
    unmet_demand: int

    @property
    def signals(self) -> int:
        return self.users + self.organisation + self.system

    def share(self, part: int) -> float | None:
        return flow.ratio(part, self.signals)


def _people(session: Session, offering_ids: tuple[int, ...], period: Period) -> tuple[int, int]:
    """Distinct requesters and distinct requesting teams across the offerings."""
    row = session.execute(
        select(
            func.count(func.distinct(Request.requester_id)),
            func.count(func.distinct(Request.team_id)),
        ).where(
            Request.offering_id.in_(offering_ids),
            Request.submitted_at >= period.since,
            Request.submitted_at < period.until,
        )
    ).one()
    return int(row[0] or 0), int(row[1] or 0)


def _unmet_demand(session: Session, period: Period) -> int:
    """Demands raised before the end of the period that are open now."""
    statement = select(func.count(Demand.id)).where(
        Demand.state.in_([state.value for state in OPEN_STATES]),
        Demand.created_at < period.until,
    )
    return int(session.scalar(statement) or 0)


def _measure(context: Context) -> _Measured:
    session, period = context.session, context.period
    adopted, rejected = context.adoption_rows(), context.rejection_rows()
    requesters, teams = _people(session, context.offering_ids, period)
    audience = adoption.active_users_of_eligible_teams(session)
    summary = context.summary()
    saved = context.time_saved()
    return _Measured(
        requests=sum(row.submitted for row in adopted),
        requesters=requesters,
        teams=teams,
        reach=flow.ratio(requesters, audience),
        adoption_rate=flow.ratio(len([row for row in adopted if row.submitted]), len(adopted)),
        users=sum(row.abandoned + row.cancelled + row.low_ratings for row in rejected),
        organisation=sum(row.approval_rejections for row in rejected),
        system=sum(row.failed for row in rejected),
        lead_p85_days=summary.lead_days[85],
        sle_hit_rate=summary.sle_hit_rate,
        automation_rate=summary.automation_rate,
        hours_saved=round(sum(row.hours_saved for row in saved), 2),
        unmet_demand=_unmet_demand(session, period),
    )


def summary(context: Context) -> Summary:
    """The headline figures of a view (its offerings and period), beside the previous
    period of the same length."""
    before = Context(
        context.session,
        context.offerings,
        context.period.previous(),
        reads_searches=context.reads_searches,
    )
    now, then = _measure(context), _measure(before)

    def figure(key: str, label: str, kind: str, attr: str, **extra: object) -> Figure:
        return Figure(key, label, kind, getattr(now, attr), getattr(then, attr), **extra)  # type: ignore[arg-type]

    figures = [
        figure("requests", "Requests", COUNT, "requests", drill="submitted"),
        figure("requesters", "Distinct requesters", COUNT, "requesters"),
        figure("teams", "Teams reached", COUNT, "teams"),
        figure("reach", "Reach (of active users)", SHARE, "reach"),
        figure("adoption_rate", "Offerings adopted", SHARE, "adoption_rate"),
        Figure(
            "rejections_users",
            "Rejected by users",
            SHARE,
            now.share(now.users),
            then.share(then.users),
            higher_is_better=None,
        ),
        Figure(
            "rejections_organisation",
            "Rejected by the organisation",
            SHARE,
            now.share(now.organisation),
            then.share(then.organisation),
            drill="rejected",
            higher_is_better=None,
        ),
        Figure(
            "rejections_system",
            "Rejected by the system",
            SHARE,
            now.share(now.system),
            then.share(then.system),
            drill="failed",
            higher_is_better=None,
        ),
        figure(
            "lead_p85_days",
            "Lead time p85 (days)",
            DAYS,
            "lead_p85_days",
            drill="completed",
            higher_is_better=False,
        ),
        figure("sle_hit_rate", "Within the SLE", SHARE, "sle_hit_rate"),
        figure("automation_rate", "Automation rate", SHARE, "automation_rate"),
        figure("hours_saved", "Hours saved", HOURS, "hours_saved"),
        figure("unmet_demand", "Open unmet demand", COUNT, "unmet_demand", higher_is_better=False),
    ]
    return Summary(
        period=context.period,
        previous=before.period,
        offerings=len(_published_ids(context)),
        figures=figures,
    )


def _published_ids(context: Context) -> list[int]:
    """The published offerings of the view (drafts have no numbers)."""
    return [offering.id for offering in context.offerings if offering.status != "draft"]
