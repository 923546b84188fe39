"""Every insights table in one shape: JSON rows, CSV export, HTML table and chart data.

A :class:`Table` is what /api/v1/analytics/<name> answers, what its CSV export holds and
what /insights shows beside each chart. Rows are flat: numbers, strings, dates.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy.orm import Session

from servicebay.analytics import adoption, demand, flow, flow_sql, forecast, health, scope, value
from servicebay.analytics.scope import Period
from servicebay.catalog.models import Offering
from servicebay.core import clock
from servicebay.core.identity import User


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    numeric: bool = False
    # Which drill-down metric a number in this column opens ("" = none).
    drill: str = ""
    # A share (0..1): pages show it as a percentage; JSON and CSV keep the fraction.
    percent: bool = False


@dataclass
class Table:
    name: str
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]] = field(default_factory=list)

    def to_csv(self) -> str:
        buffer = io.StringIO()
        # RFC 4180 line ends: a cell holding a line break of either kind is quoted, so no
        # text can start a row of its own.
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow([column.key for column in self.columns])
        for row in self.rows:
            writer.writerow([_csv_cell(row.get(column.key)) for column in self.columns])
        return buffer.getvalue()


# A spreadsheet reads a cell starting with one of these as a formula (OWASP, "CSV
# Injection"): such text is written with a leading single quote, so it stays text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: Any) -> Any:
    """A value as a CSV cell: numbers stay numbers, text never starts a formula."""
    if value is None:
        return ""
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return round(value, 4)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _rounded(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


@dataclass
class Context:
    """One view's inputs: the offerings the viewer may see (after filters), a period, and
    whether the viewer may read what people searched for (:func:`scope.reads_searches`)."""

    session: Session
    offerings: Sequence[Offering]
    period: Period
    reads_searches: bool = False
    _flows: list[flow.RequestFlow] | None = field(default=None, init=False, repr=False)
    _summary: flow.FlowSummary | None = field(default=None, init=False, repr=False)
    _adoption: list[adoption.AdoptionRow] | None = field(default=None, init=False, repr=False)
    _rejection: list[adoption.RejectionRow] | None = field(default=None, init=False, repr=False)
    _health: list[health.Health] | None = field(default=None, init=False, repr=False)
    _slugs: dict[int, str] | None = field(default=None, init=False, repr=False)
    _in_sql: bool | None = field(default=None, init=False, repr=False)
    _facts: flow_sql.Facts | None = field(default=None, init=False, repr=False)
    _days: dict[str, Any] | None = field(default=None, init=False, repr=False)

    @property
    def offering_ids(self) -> tuple[int, ...]:
        return tuple(offering.id for offering in self.offerings)

    @property
    def as_of(self) -> datetime:
        """The end of the period, or now when the period has not ended yet."""
        return min(self.period.until, clock.now())

    @property
    def zone(self) -> tzinfo:
        """Whose days the per-day tables count (scope.reporting_zone)."""
        return self.period.zone

    @property
    def scope(self) -> flow.Scope:
        return flow.Scope(self.period.since, self.period.until, self.offering_ids, self.zone)

    def slug_of(self, offering_id: int) -> str:
        if self._slugs is None:
            self._slugs = {offering.id: offering.slug for offering in self.offerings}
        return self._slugs.get(offering_id, str(offering_id))

    def flows(self) -> list[flow.RequestFlow]:
        """Every request in scope, replayed once per view and shared by its tables."""
        if self._flows is None:
            self._flows = flow.load(self.session, self.scope)
        return self._flows

    @property
    def in_sql(self) -> bool:
        """Whether the database computes the flow tables (analytics/flow_sql.py) rather
        than Python over every request's flow."""
        if self._in_sql is None:
            self._in_sql = flow_sql.available(self.session)
        return self._in_sql

    def facts(self) -> flow_sql.Facts:
        """The view's requests for the database's flow queries, gathered once per view."""
        if self._facts is None:
            self._facts = flow_sql.facts(self.session, self.scope)
        return self._facts

    def day_counts(self) -> dict[str, Any]:
        if self._days is None:
            self._days = flow_sql.day_counts(self.facts(), self.session)
        return self._days

    def summary(self) -> flow.FlowSummary:
        """The flow summary of every request in scope, computed once per view."""
        if self._summary is None:
            if self.in_sql:
                found = flow_sql.summaries(self.facts(), self.session, per_offering=False)
                self._summary = found[None]
            else:
                self._summary = flow.summary(self.flows(), self.scope)
        return self._summary

    def per_offering(self) -> dict[int, flow.FlowSummary]:
        """flow.per_offering over the view."""
        if self.in_sql:
            found = flow_sql.summaries(self.facts(), self.session, per_offering=True)
            return {key: summary for key, summary in found.items() if key is not None}
        return flow.per_offering(self.flows(), self.scope)

    def time_saved(self) -> list[value.TimeSavedRow]:
        """value.time_saved over the view."""
        if self.in_sql:
            return value.time_saved_from(
                flow_sql.automated_completions(self.facts(), self.session),
                offerings=self.offerings,
            )
        return value.time_saved(self.flows(), self.scope, offerings=self.offerings)

    def open_items(self, *, as_of: datetime, zone: tzinfo | None = None) -> list[flow.OpenItem]:
        zone = zone or self.zone
        if self.in_sql:
            return flow_sql.open_items(self.facts(), self.session, as_of=as_of, zone=zone)
        return flow.open_items(self.flows(), as_of=as_of, zone=zone)

    def adoption_rows(self) -> list[adoption.AdoptionRow]:
        """Adoption per offering, counted once per view and shared by the summary, offering
        health and the adoption table."""
        if self._adoption is None:
            self._adoption = adoption.adoption(
                self.session, offerings=self.offerings, period=self.period
            )
        return self._adoption

    def rejection_rows(self) -> list[adoption.RejectionRow]:
        """Rejection per offering, counted once per view (as :meth:`adoption_rows`)."""
        if self._rejection is None:
            self._rejection = adoption.rejection(
                self.session, offerings=self.offerings, period=self.period
            )
        return self._rejection

    def health_rows(self) -> list[health.Health]:
        """Offering health, judged once per view from the shared rows."""
        if self._health is None:
            self._health = health.judge(self.adoption_rows(), self.rejection_rows())
        return self._health


def context_for(
    session: Session,
    *,
    viewer: User,
    team_slug: str | None = None,
    offering_slug: str | None = None,
    first_day: date | None = None,
    last_day: date | None = None,
) -> Context:
    """What a view shows ``viewer``: the same for the insights pages and the API."""
    offerings = scope.visible_offerings(
        session, viewer=viewer, team_slug=team_slug, offering_slug=offering_slug
    )
    zone = scope.reporting_zone(session, team_slug=team_slug)
    return Context(
        session,
        offerings,
        scope.period_of_days(first_day, last_day, zone=zone),
        reads_searches=scope.reads_searches(session, viewer=viewer),
    )


def _n(key: str, label: str, drill: str = "") -> Column:
    return Column(key, label, numeric=True, drill=drill)


def _share(key: str, label: str) -> Column:
    return Column(key, label, numeric=True, percent=True)


def adoption_table(context: Context) -> Table:
    rows = context.adoption_rows()
    return Table(
        "adoption",
        "Adoption per offering",
        [
            Column("offering", "Offering"),
            Column("name", "Name"),
            Column("owner_team", "Owner team"),
            Column("work_kind", "Kind of work"),
            _n("views", "Views"),
            _n("form_starts", "Form starts"),
            _n("submitted", "Submitted", drill="submitted"),
            _n("completed", "Completed", drill="completed"),
            _n("unique_requesters", "Requesters"),
            _n("unique_teams", "Teams"),
            _share("repeat_share", "Repeat requesters"),
            _n("previous_submitted", "Submitted before"),
            _share("trend", "Trend"),
            _share("reach", "Reach"),
        ],
        [
            {
                "offering": row.offering_slug,
                "name": row.offering_name,
                "owner_team": row.owner_team,
                "work_kind": row.work_kind,
                "views": row.views,
                "form_starts": row.form_starts,
                "submitted": row.submitted,
                "completed": row.completed,
                "unique_requesters": row.unique_requesters,
                "unique_teams": row.unique_teams,
                "repeat_share": _rounded(row.repeat_share),
                "previous_submitted": row.previous_submitted,
                "trend": _rounded(row.trend),
                "reach": _rounded(row.reach),
            }
            for row in rows
        ],
    )


def adoption_by_team_table(context: Context) -> Table:
    rows = adoption.adoption_by_team(
        context.session, offerings=context.offerings, period=context.period
    )
    return Table(
        "adoption-by-team",
        "Submissions per requesting team",
        [
            Column("offering", "Offering"),
            Column("team", "Requesting team"),
            _n("submitted", "Submitted"),
            _n("unique_requesters", "Requesters"),
        ],
        [
            {
                "offering": row.offering_slug,
                "team": row.team,
                "submitted": row.submitted,
                "unique_requesters": row.unique_requesters,
            }
            for row in rows
        ],
    )


def rejection_table(context: Context) -> Table:
    rows = context.rejection_rows()
    return Table(
        "rejection",
        "Rejection by source",
        [
            Column("offering", "Offering"),
            _n("form_starts", "Form starts"),
            _n("abandoned", "Abandoned forms (users)"),
            _n("cancelled", "Cancelled (users)", drill="cancelled"),
            _n("low_ratings", "Low ratings (users)"),
            _n("ratings", "Ratings"),
            _n("average_rating", "Average rating"),
            _n("days_without_uptake", "Days without uptake (users)"),
            _n("approval_rejections", "Approval rejections (organisation)", drill="rejected"),
            Column("reasons", "Rejection reasons"),
            _n("failed", "Failed fulfilments (system)", drill="failed"),
            _n("retries", "Retries (system)"),
        ],
        [
            {
                "offering": row.offering_slug,
                "form_starts": row.form_starts,
                "abandoned": row.abandoned,
                "cancelled": row.cancelled,
                "low_ratings": row.low_ratings,
                "ratings": row.ratings,
                "average_rating": _rounded(row.average_rating, 2),
                "days_without_uptake": row.days_without_uptake,
                "approval_rejections": row.approval_rejections,
                "reasons": "; ".join(f"{reason} ({count})" for reason, count in row.reasons),
                "failed": row.failed,
                "retries": row.retries,
            }
            for row in rows
        ],
    )


def _p(values: dict[int, float | None], percent: int, digits: int = 2) -> float | None:
    return _rounded(values.get(percent), digits)


def flow_table(context: Context) -> Table:
    per_offering = context.per_offering()
    targets = {
        offering.id: offering.current_version.sle_percent if offering.current_version else None
        for offering in context.offerings
    }
    rows = []
    for offering in context.offerings:
        summary = per_offering.get(offering.id)
        if summary is None:
            continue
        rows.append(
            {
                "offering": offering.slug,
                "completed": summary.completed,
                "lead_p50_days": summary.lead_days[50],
                "lead_p85_days": summary.lead_days[85],
                "lead_p95_days": summary.lead_days[95],
                "cycle_p50_days": summary.cycle_days[50],
                "cycle_p85_days": summary.cycle_days[85],
                "lead_p85_hours": _p(summary.lead_hours, 85),
                "wip": summary.wip,
                "sle_hit_rate": _rounded(summary.sle_hit_rate),
                "sle_target_percent": targets.get(offering.id),
                "automation_rate": _rounded(summary.automation_rate),
                "first_attempt_success": _rounded(summary.first_attempt_success),
                "recoveries": summary.recoveries,
                "recovery_p50_hours": _p(summary.recovery_hours, 50),
                "recovery_p85_hours": _p(summary.recovery_hours, 85),
            }
        )
    return Table(
        "flow",
        "Flow per offering",
        [
            Column("offering", "Offering"),
            _n("completed", "Completed", drill="completed"),
            _n("lead_p50_days", "Lead time p50 (days)"),
            _n("lead_p85_days", "Lead time p85 (days)"),
            _n("lead_p95_days", "Lead time p95 (days)"),
            _n("cycle_p50_days", "Cycle time p50 (days)"),
            _n("cycle_p85_days", "Cycle time p85 (days)"),
            _n("lead_p85_hours", "Lead time p85 (hours)"),
            _n("wip", "Open now", drill="open"),
            _share("sle_hit_rate", "SLE hit rate"),
            _n("sle_target_percent", "SLE target %"),
            _share("automation_rate", "Automation rate"),
            _share("first_attempt_success", "First-attempt success"),
            _n("recoveries", "Recoveries"),
            _n("recovery_p50_hours", "Time to recover p50 (hours)"),
            _n("recovery_p85_hours", "Time to recover p85 (hours)"),
        ],
        rows,
    )


def percentiles_table(context: Context) -> Table:
    summary = context.summary()
    measures = [
        ("lead time (days)", summary.lead_days),
        ("cycle time (days)", summary.cycle_days),
        ("lead time (hours)", summary.lead_hours),
        ("cycle time (hours)", summary.cycle_hours),
    ]
    return Table(
        "percentiles",
        "Lead and cycle time percentiles (floor rank)",
        [Column("measure", "Measure"), *[_n(f"p{p}", f"p{p}") for p in (50, 70, 85, 95)]],
        [
            {"measure": name, **{f"p{p}": _rounded(values[p], 2) for p in (50, 70, 85, 95)}}
            for name, values in measures
        ],
    )


def lead_times_table(context: Context) -> Table:
    points = (
        flow_sql.lead_time_points(context.facts(), context.session)
        if context.in_sql
        else flow.lead_time_points(context.flows(), context.scope)
    )
    for point in points:
        point["offering"] = context.slug_of(point.pop("offering_id"))
    return Table(
        "lead-times",
        "Lead and cycle time of each completed request",
        [
            _n("request_id", "Request"),
            Column("offering", "Offering"),
            Column("completed_at", "Completed at"),
            _n("lead_days", "Lead time (days)"),
            _n("lead_hours", "Lead time (hours)"),
            _n("cycle_days", "Cycle time (days)"),
            _n("cycle_hours", "Cycle time (hours)"),
        ],
        points,
    )


def histogram_table(context: Context) -> Table:
    if context.in_sql:
        counts = flow_sql.histogram(context.facts(), context.session)
    else:
        done = flow.completed_in(context.flows(), context.scope)
        counts = flow.histogram(f.lead_days for f in done)
    return Table(
        "lead-time-histogram",
        "Completed requests by lead time in days",
        [_n("lead_days", "Lead time (days)"), _n("requests", "Requests")],
        [{"lead_days": days, "requests": count} for days, count in counts],
    )


def throughput_table(context: Context) -> Table:
    return Table(
        "throughput",
        "Throughput per day",
        [Column("day", "Day"), _n("completed", "Completed", drill="completed")],
        [{"day": day.isoformat(), "completed": count} for day, count in _throughput(context)],
    )


def _throughput(context: Context) -> list[tuple[date, int]]:
    if context.in_sql:
        return flow_sql.throughput_per_day(context.day_counts(), context.scope)
    return flow.throughput_per_day(context.flows(), context.scope)


def weekly_throughput_table(context: Context) -> Table:
    return Table(
        "throughput-weekly",
        "Throughput per ISO week",
        [Column("week", "ISO week"), _n("completed", "Completed")],
        [{"week": week, "completed": count} for week, count in flow.weeks_of(_throughput(context))],
    )


def wip_table(context: Context) -> Table:
    return Table(
        "wip",
        "Work in progress at the end of each day",
        [Column("day", "Day"), _n("wip", "In progress")],
        [
            {"day": day.isoformat(), "wip": count}
            for day, count in (
                flow_sql.wip_per_day(context.day_counts(), context.scope)
                if context.in_sql
                else flow.wip_per_day(context.flows(), context.scope)
            )
        ],
    )


def aging_table(context: Context) -> Table:
    items = context.open_items(as_of=context.as_of)
    return Table(
        "aging",
        "Age of open requests",
        [
            _n("request_id", "Request"),
            Column("offering", "Offering"),
            Column("status", "Status"),
            Column("submitted_at", "Submitted at"),
            _n("age_days", "Age (days)"),
            _n("age_hours", "Age (hours)"),
        ],
        [
            {
                "request_id": item.request_id,
                "offering": context.slug_of(item.offering_id),
                "status": item.status,
                "submitted_at": item.submitted_at.isoformat(),
                "age_days": item.age_days,
                "age_hours": round(item.age_hours, 2),
            }
            for item in items
        ],
    )


def cumulative_flow_table(context: Context) -> Table:
    return Table(
        "cumulative-flow",
        "Cumulative flow",
        [
            Column("day", "Day"),
            _n("arrived", "Arrived"),
            _n("started", "Started"),
            _n("completed", "Completed"),
            _n("dropped", "Rejected or cancelled"),
        ],
        _cumulative_flow(context),
    )


def _cumulative_flow(context: Context) -> list[dict[str, Any]]:
    before = flow.closed_before(context.session, context.scope)
    if context.in_sql:
        return flow_sql.cumulative_flow(context.day_counts(), context.scope, before=before)
    return flow.cumulative_flow(context.flows(), context.scope, before=before)


def stages_table(context: Context) -> Table:
    summary = context.summary()
    total = sum(summary.stage_hours.values())
    return Table(
        "stages",
        "Where completed requests spent their time",
        [Column("stage", "Stage"), _n("hours", "Hours"), _share("share", "Share")],
        [
            {
                "stage": stage,
                "hours": round(hours, 2),
                "share": _rounded(hours / total) if total else None,
            }
            for stage, hours in summary.stage_hours.items()
        ],
    )


def work_mix_table(context: Context) -> Table:
    rows = value.work_mix(context.session, offerings=context.offerings, period=context.period)
    return Table(
        "work-mix",
        "Standard and consultative work per team and week",
        [
            Column("team", "Team"),
            Column("week", "ISO week"),
            _n("standard", "Standard"),
            _n("consultative", "Consultative"),
        ],
        [row.__dict__ for row in rows],
    )


def time_saved_table(context: Context) -> Table:
    rows = context.time_saved()
    return Table(
        "time-saved",
        "Time saved by automation",
        [
            Column("offering", "Offering"),
            Column("team", "Team"),
            _n("automated_completions", "Automated completions", drill="completed"),
            _n("effort_minutes", "Manual effort per request (min)"),
            _n("hours_saved", "Hours saved"),
        ],
        [
            {
                "offering": row.offering_slug,
                "team": row.team,
                "automated_completions": row.automated_completions,
                "effort_minutes": row.effort_minutes,
                "hours_saved": round(row.hours_saved, 2),
            }
            for row in rows
        ],
    )


def unmet_needs_table(context: Context) -> Table:
    needs = demand.top_unmet_needs(context.session, as_of=context.as_of)
    return Table(
        "unmet-needs",
        "Top unmet needs",
        [
            _n("demand_id", "Demand"),
            Column("title", "Title"),
            Column("state", "State"),
            Column("urgency", "Urgency"),
            _n("votes", "Votes"),
            _n("age_days", "Age (days)"),
        ],
        [need.__dict__ for need in needs],
    )


def empty_searches_table(context: Context) -> Table:
    """What people searched for in vain: for those who may read searches, else no row."""
    searches = (
        demand.empty_searches(context.session, period=context.period)
        if context.reads_searches
        else []
    )
    return Table(
        "empty-searches",
        "Searches that found nothing",
        [Column("query", "Query"), _n("searches", "Searches"), Column("last_at", "Last seen")],
        [
            {"query": s.query, "searches": s.searches, "last_at": s.last_at.isoformat()}
            for s in searches
        ],
    )


def forecast_table(context: Context, *, items: int | None = None, days: int = 14) -> Table:
    """Monte Carlo over the scope's last 90 full days of daily throughput."""
    # Full days only: the period's end is a midnight; today, when in the period, is not over.
    today = context.as_of.astimezone(context.zone).date()
    history_end = scope.start_of(today, context.zone)
    history_scope = flow.Scope(
        scope.start_of(today - timedelta(days=forecast.HISTORY_DAYS), context.zone),
        history_end,
        context.offering_ids,
        context.zone,
    )
    if context.in_sql:
        history_days = flow_sql.day_counts(
            flow_sql.facts(context.session, history_scope), context.session
        )
        per_day = flow_sql.throughput_per_day(history_days, history_scope)
    else:
        history_flows = flow.load(context.session, history_scope)
        per_day = flow.throughput_per_day(history_flows, history_scope)
    history = [count for _, count in per_day]
    open_now = len(context.open_items(as_of=context.period.until, zone=UTC))
    items = open_now if items is None else items
    done = forecast.when_done(history, items=items)
    many = forecast.how_many(history, days=days)
    return Table(
        "forecast",
        f"Forecast: {items} open requests, and the next {days} days",
        [
            _n("confidence", "Confidence %"),
            _n("days_to_finish", f"Days to finish {items}"),
            _n("completed_in_days", f"Completed in {days} days"),
        ],
        [
            {
                "confidence": confidence,
                "days_to_finish": forecast.NOT_AT_THIS_THROUGHPUT
                if done.answers[confidence] is None
                else done.answers[confidence],
                "completed_in_days": many.answers[confidence],
            }
            for confidence in forecast.CONFIDENCES
        ],
    )


TABLES: dict[str, Callable[[Context], Table]] = {
    "adoption": adoption_table,
    "adoption-by-team": adoption_by_team_table,
    "rejection": rejection_table,
    "flow": flow_table,
    "percentiles": percentiles_table,
    "lead-times": lead_times_table,
    "lead-time-histogram": histogram_table,
    "throughput": throughput_table,
    "throughput-weekly": weekly_throughput_table,
    "wip": wip_table,
    "aging": aging_table,
    "cumulative-flow": cumulative_flow_table,
    "stages": stages_table,
    "work-mix": work_mix_table,
    "time-saved": time_saved_table,
    "unmet-needs": unmet_needs_table,
    "empty-searches": empty_searches_table,
    "forecast": forecast_table,
}
