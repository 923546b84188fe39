"""The flow metrics computed by PostgreSQL over the flow roll-up, so a view of a large
history reads aggregates, not every request.

Each view's requests are the ones :func:`flow.load` sees: the roll-up rows that hold
every event the period sees, plus the few requests replayed from the Event log (events
after the period's end, or not read by the roll-up yet), sent along as a VALUES list.
Every function answers exactly what its namesake in analytics/flow.py answers over
:func:`flow.load`'s flows (docs/metrics.md defines them; the tests hold the two
together). Other databases use those Python functions instead (:func:`available`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    Integer,
    String,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.selectable import CTE

from servicebay.analytics import flow
from servicebay.analytics.models import RequestFlowRow
from servicebay.analytics.percentiles import (
    PERCENTILES,
    hours_between,
    inclusive_days,
    percentiles,
)
from servicebay.core.database import UTCDateTime
from servicebay.requests.models import Request

_COLUMNS: tuple[tuple[str, Any], ...] = (
    ("request_id", Integer),
    ("offering_id", Integer),
    ("sle_hours", Float),
    ("effort_minutes", Integer),
    ("imported", Boolean),
    ("status", String),
    ("submitted_at", UTCDateTime),
    ("started_at", UTCDateTime),
    ("completed_at", UTCDateTime),
    ("closed_at", UTCDateTime),
    ("manual_tasks", Integer),
    ("first_outcome_at", UTCDateTime),
    ("first_outcome_success", Boolean),
    ("approval_hours", Float),
    ("queue_hours", Float),
    ("fulfilment_hours", Float),
    ("recovery_hours", Float),
)
_STAGE_COLUMN = {stage: f"{stage}_hours" for stage in flow.STAGES}


def available(session: Session) -> bool:
    """Whether this database computes the flow metrics itself (PostgreSQL), and the
    roll-up has read the log at least once."""
    return session.get_bind().dialect.name == "postgresql" and (
        flow.stale_requests(session) is not None
    )


def _hours(start: Any, end: Any) -> ColumnElement[Any]:
    return cast(func.extract("epoch", end - start), Float) / 3600.0


def _zone_name(zone: tzinfo) -> str:
    return str(getattr(zone, "key", None) or ("UTC" if zone is UTC else zone.tzname(None)))


def _day(moment: Any, zone: tzinfo) -> ColumnElement[date]:
    """The local day in ``zone`` of a stored (naive UTC) moment."""
    return cast(func.timezone(_zone_name(zone), func.timezone("UTC", moment)), Date)


def _utc_day(moment: Any) -> ColumnElement[Any]:
    return cast(moment, Date)


@dataclass
class Facts:
    """The requests one view sees, as a subquery with :data:`_COLUMNS`; and the
    recoveries of the ones that failed (few), replayed in Python."""

    table: CTE
    scope: flow.Scope
    failed: list[flow.RequestFlow]


def _seen_rows(scope: flow.Scope) -> list[ColumnElement[bool]]:
    """flow._seen on the roll-up's copies of the request's columns (the index finds the
    requests closed since the period's start, and the open ones)."""
    row = RequestFlowRow
    seen: list[ColumnElement[bool]] = [
        row.request_submitted_at < scope.until,
        or_(row.request_closed_at.is_(None), row.request_closed_at >= scope.since),
    ]
    if scope.offering_ids is not None:
        seen.append(row.offering_id.in_(scope.offering_ids))
    return seen


def facts(session: Session, scope: flow.Scope) -> Facts:
    stale = flow.stale_requests(session) or set()
    row = RequestFlowRow
    until = scope.until
    fresh = [or_(row.last_event_at.is_(None), row.last_event_at < until)]
    if stale:
        fresh.append(row.request_id.not_in(stale))
    end = literal(until, UTCDateTime)
    accrued = case((row.status_since < until, _hours(row.status_since, end)), else_=0.0)

    def stage(name: str) -> Any:
        statuses = [status for status, of in flow.STAGE_OF_STATUS.items() if of == name]
        hours = getattr(row, _STAGE_COLUMN[name])
        return (hours + case((row.status.in_(statuses), accrued), else_=0.0)).label(
            _STAGE_COLUMN[name]
        )

    rolled = select(
        *(
            stage(name.removesuffix("_hours"))
            if name in _STAGE_COLUMN.values()
            else getattr(row, name)
            for name, _ in _COLUMNS
        )
    ).where(*_seen_rows(scope), *fresh)
    # The rest of the view, replayed as flow.load does: requests with no row, rows not
    # holding every event the period sees, and requests with events not read yet.
    rest_query = union_all(
        select(Request.id).where(
            *flow._seen(scope), ~select(row.request_id).where(row.request_id == Request.id).exists()
        ),
        select(row.request_id).where(*_seen_rows(scope), row.last_event_at >= until),
        *([select(Request.id).where(*flow._seen(scope), Request.id.in_(stale))] if stale else []),
    )
    rest = flow.replayed(session, sorted(set(session.scalars(rest_query))), until=until)
    failed = [item for item in rest if item.recoveries]
    for request_id, offering_id, recoveries in session.execute(
        select(row.request_id, row.offering_id, row.recoveries).where(
            *_seen_rows(scope), *fresh, func.json_array_length(row.recoveries) > 0
        )
    ):
        recovered = flow.RequestFlow(request_id, offering_id, None, None, until)
        recovered.recoveries = [(datetime.fromisoformat(at), hours) for at, hours in recoveries]
        failed.append(recovered)
    union: Any = rolled
    if rest:
        listed = list(zip(*(_listed(item) for item in rest), strict=True))
        arrays = [
            cast(bindparam(f"rest_{name}", list(listed[index]), type_=ARRAY(kind)), ARRAY(kind))
            for index, (name, kind) in enumerate(_COLUMNS)
        ]
        unnested = (
            func.unnest(*arrays).table_valued(*(name for name, _ in _COLUMNS)).render_derived()
        )
        union = rolled.union_all(
            select(*(cast(unnested.c[name], kind).label(name) for name, kind in _COLUMNS))
        )
    return Facts(union.cte("facts"), scope, failed)


def _listed(item: flow.RequestFlow) -> tuple[Any, ...]:
    outcome = item.first_outcome
    return (
        item.request_id,
        item.offering_id,
        item.sle_hours,
        item.effort_minutes,
        item.imported,
        item.status,
        item.submitted_at,
        item.started_at,
        item.completed_at,
        item.closed_at,
        item.manual_tasks,
        outcome[0] if outcome else None,
        outcome[1] if outcome else None,
        *(item.stage_hours[stage] for stage in ("approval", "queue", "fulfilment", "recovery")),
    )


def _in(moment: Any, scope: flow.Scope) -> ColumnElement[bool]:
    return and_(moment >= scope.since, moment < scope.until)


def summaries(
    source: Facts, session: Session, *, per_offering: bool
) -> dict[int | None, flow.FlowSummary]:
    """flow.summary over the view (key None), or flow.per_offering (keys: offerings)."""
    f = source.table.c
    scope = source.scope
    done = _in(f.completed_at, scope)
    cycle_start = func.coalesce(f.started_at, f.completed_at)
    measures = {
        "lead_days": _utc_day(f.completed_at) - _utc_day(f.submitted_at) + 1,
        "lead_hours": _hours(f.submitted_at, f.completed_at),
        "cycle_days": _utc_day(f.completed_at) - _utc_day(cycle_start) + 1,
        "cycle_hours": _hours(cycle_start, f.completed_at),
    }
    key = f.offering_id if per_offering else literal(0)
    lead_hours = measures["lead_hours"]
    open_at_end = and_(
        f.submitted_at < scope.until, or_(f.closed_at.is_(None), f.closed_at >= scope.until)
    )
    outcome_in = _in(f.first_outcome_at, scope)
    arrays = [
        func.array_agg(aggregate_order_by(expression, expression)).filter(done).label(name)
        for name, expression in measures.items()
    ]
    grouped = (
        select(
            key.label("key"),
            func.count().filter(done).label("completed"),
            *arrays,
            func.count().filter(open_at_end).label("wip"),
            *(
                func.coalesce(func.sum(getattr(f, _STAGE_COLUMN[stage])).filter(done), 0.0).label(
                    stage
                )
                for stage in flow.STAGES
            ),
            func.count().filter(done & f.sle_hours.is_not(None)).label("with_sle"),
            func.count()
            .filter(done & f.sle_hours.is_not(None) & (lead_hours <= f.sle_hours))
            .label("kept"),
            func.count().filter(done & (f.manual_tasks == 0) & ~f.imported).label("automated"),
            func.count().filter(outcome_in).label("outcomes"),
            func.count().filter(outcome_in & f.first_outcome_success).label("successes"),
        )
        .group_by(key)
        .subquery("grouped")
    )
    g = grouped.c

    def picks(name: str) -> list[ColumnElement[Any]]:
        array = getattr(g, name)
        return [
            array[func.greatest(1, (percent * g.completed) // 100)].label(f"{name}_{percent}")
            for percent in PERCENTILES
        ]

    rows = session.execute(
        select(
            g.key,
            g.completed,
            *(pick for name in measures for pick in picks(name)),
            g.wip,
            *(getattr(g, stage) for stage in flow.STAGES),
            g.with_sle,
            g.kept,
            g.automated,
            g.outcomes,
            g.successes,
        )
    ).all()
    recovered: dict[int | None, list[float]] = defaultdict(list)
    for item in source.failed:
        for at, hours in item.recoveries:
            if scope.since <= at < scope.until:
                recovered[item.offering_id if per_offering else None].append(hours)
    found: dict[int | None, flow.FlowSummary] = {}
    for found_row in rows:
        mapping = found_row._mapping
        completed = int(mapping["completed"])
        group = int(mapping["key"]) if per_offering else None

        spent = recovered.get(group, [])
        found[group] = flow.FlowSummary(
            completed=completed,
            lead_days=_picked(mapping, "lead_days", completed, whole=True),
            lead_hours=_picked(mapping, "lead_hours", completed),
            cycle_days=_picked(mapping, "cycle_days", completed, whole=True),
            cycle_hours=_picked(mapping, "cycle_hours", completed),
            wip=int(mapping["wip"]),
            stage_hours={stage: float(mapping[stage]) for stage in flow.STAGES},
            sle_hit_rate=flow.ratio(int(mapping["kept"]), int(mapping["with_sle"])),
            automation_rate=flow.ratio(int(mapping["automated"]), completed),
            first_attempt_success=flow.ratio(int(mapping["successes"]), int(mapping["outcomes"])),
            recovery_hours=percentiles(spent),
            recoveries=len(spent),
        )
    if not per_offering and None not in found:
        found[None] = flow.summary([], scope)
    return found


def _picked(
    mapping: Any, name: str, completed: int, *, whole: bool = False
) -> dict[int, float | None]:
    if not completed:
        return dict.fromkeys(PERCENTILES)
    kind = int if whole else float
    return {percent: kind(mapping[f"{name}_{percent}"]) for percent in PERCENTILES}


def day_counts(source: Facts, session: Session) -> dict[str, Counter[date]]:
    """Per kind of moment, how many of the view's requests had it on each local day:
    arrived, started, completed, closed, dropped, and completed within the period."""
    f = source.table.c
    scope = source.scope
    kinds: dict[str, tuple[Any, ColumnElement[bool] | None]] = {
        "arrived": (f.submitted_at, None),
        "started": (func.coalesce(f.started_at, f.completed_at), None),
        "completed": (f.completed_at, None),
        "closed": (f.closed_at, None),
        "dropped": (f.closed_at, f.completed_at.is_(None)),
        "throughput": (f.completed_at, _in(f.completed_at, scope)),
    }
    parts = []
    for kind, (moment, condition) in kinds.items():
        day = _day(moment, scope.zone)
        part = select(literal(kind).label("kind"), day.label("day"), func.count().label("n"))
        part = part.where(moment.is_not(None))
        if condition is not None:
            part = part.where(condition)
        parts.append(part.group_by(day))
    found: dict[str, Counter[date]] = {kind: Counter() for kind in kinds}
    for kind, on, count in session.execute(union_all(*parts)):
        found[kind][on] = int(count)
    return found


def _running(counts: Counter[date], days: list[date]) -> list[int]:
    """flow._cumulative from per-day counts."""
    running = sum(count for day, count in counts.items() if days and day < days[0])
    totals = []
    for day in days:
        running += counts.get(day, 0)
        totals.append(running)
    return totals


def throughput_per_day(
    counts: dict[str, Counter[date]], scope: flow.Scope
) -> list[tuple[date, int]]:
    return [(day, counts["throughput"].get(day, 0)) for day in flow.days_of(scope)]


def wip_per_day(counts: dict[str, Counter[date]], scope: flow.Scope) -> list[tuple[date, int]]:
    days = flow.days_of(scope)
    arrived, closed = _running(counts["arrived"], days), _running(counts["closed"], days)
    return [(day, a - c) for day, a, c in zip(days, arrived, closed, strict=True)]


def cumulative_flow(
    counts: dict[str, Counter[date]], scope: flow.Scope, *, before: dict[str, int]
) -> list[dict[str, Any]]:
    days = flow.days_of(scope)
    totals = {
        kind: _running(counts[kind], days)
        for kind in ("arrived", "started", "completed", "dropped")
    }
    return [
        {
            "day": day.isoformat(),
            **{kind: before.get(kind, 0) + totals[kind][index] for kind in totals},
        }
        for index, day in enumerate(days)
    ]


def lead_time_points(source: Facts, session: Session) -> list[dict[str, Any]]:
    """flow.lead_time_points: one point per completed request, in completion order."""
    f = source.table.c
    cycle_start = func.coalesce(f.started_at, f.completed_at)
    rows = session.execute(
        select(
            f.request_id,
            f.offering_id,
            f.completed_at,
            (_utc_day(f.completed_at) - _utc_day(f.submitted_at) + 1).label("lead_days"),
            _hours(f.submitted_at, f.completed_at).label("lead_hours"),
            (_utc_day(f.completed_at) - _utc_day(cycle_start) + 1).label("cycle_days"),
            _hours(cycle_start, f.completed_at).label("cycle_hours"),
        )
        .where(_in(f.completed_at, source.scope))
        .order_by(f.completed_at, f.request_id)
    )
    return [
        {
            "request_id": row.request_id,
            "offering_id": row.offering_id,
            "completed_at": row.completed_at.isoformat(),
            "lead_days": row.lead_days,
            "lead_hours": round(row.lead_hours, 4),
            "cycle_days": row.cycle_days,
            "cycle_hours": round(row.cycle_hours, 4),
        }
        for row in rows
    ]


def histogram(source: Facts, session: Session) -> list[tuple[int, int]]:
    """flow.histogram of the completed requests' lead times in days."""
    f = source.table.c
    lead_days = _utc_day(f.completed_at) - _utc_day(f.submitted_at) + 1
    counts = Counter(
        {
            int(spent): int(count)
            for spent, count in session.execute(
                select(lead_days, func.count())
                .where(_in(f.completed_at, source.scope))
                .group_by(lead_days)
            )
        }
    )
    if not counts:
        return []
    return [(days, counts.get(days, 0)) for days in range(1, max(counts) + 1)]


def open_items(
    source: Facts, session: Session, *, as_of: datetime, zone: tzinfo = UTC
) -> list[flow.OpenItem]:
    """flow.open_items: the view's requests not closed at ``as_of``, oldest first."""
    f = source.table.c
    rows = session.execute(
        select(f.request_id, f.offering_id, f.status, f.submitted_at).where(
            f.submitted_at < as_of, or_(f.closed_at.is_(None), f.closed_at >= as_of)
        )
    )
    last_instant = as_of - timedelta(microseconds=1)
    items = [
        flow.OpenItem(
            request_id=request_id,
            offering_id=offering_id,
            status=status,
            submitted_at=submitted_at,
            age_days=inclusive_days(submitted_at, last_instant, zone),
            age_hours=hours_between(submitted_at, as_of),
        )
        for request_id, offering_id, status, submitted_at in rows
    ]
    return sorted(items, key=lambda item: (item.submitted_at, item.request_id))


def automated_completions(source: Facts, session: Session) -> dict[int, tuple[int, int, int]]:
    """Per offering: automated completions in the period, the largest declared manual
    effort among them and their total effort (minutes), as value.time_saved counts."""
    f = source.table.c
    rows = session.execute(
        select(f.offering_id, func.count(), func.max(f.effort_minutes), func.sum(f.effort_minutes))
        .where(_in(f.completed_at, source.scope), f.manual_tasks == 0, ~f.imported)
        .group_by(f.offering_id)
    )
    return {int(o): (int(n), int(most or 0), int(total or 0)) for o, n, most, total in rows}
