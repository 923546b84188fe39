"""Kanban flow metrics per offering, team and period, computed from the Event log.

Each request's history (its ``request.<status>`` events, failed attempts and manual
tasks) is replayed once into a :class:`RequestFlow`; every metric is a plain function of
those. docs/metrics.md defines each one in words; the tests hold the two together.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from itertools import groupby
from operator import attrgetter, itemgetter
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from servicebay.analytics import sle
from servicebay.analytics.models import RequestFlowRow, RollupState
from servicebay.analytics.percentiles import hours_between, inclusive_days, percentiles
from servicebay.catalog.models import OfferingVersion
from servicebay.core.events import Event
from servicebay.requests.models import ImportedCase, Request

STATUSES = (
    "submitted",
    "pending_approval",
    "rejected",
    "in_fulfilment",
    "completed",
    "failed",
    "cancelled",
)
STATUS_EVENTS = tuple(f"request.{status}" for status in STATUSES)
CLOSED = frozenset({"completed", "rejected", "cancelled"})
# Where a request waits, by the status it is in (docs/metrics.md, "time in stage").
STAGE_OF_STATUS = {
    "submitted": "queue",
    "pending_approval": "approval",
    "in_fulfilment": "fulfilment",
    "failed": "recovery",
}
STAGES = ("approval", "queue", "fulfilment", "recovery")
OTHER_EVENTS = ("task.created", "run.attempt_failed")
# How many event rows :func:`load` fetches at a time.
EVENTS_PER_FETCH = 10_000


@dataclass(slots=True)
class RequestFlow:
    """One request's path through the statuses, as its events tell it."""

    request_id: int
    offering_id: int
    team_id: int | None
    sle_hours: float | None
    submitted_at: datetime
    effort_minutes: int = 0
    status: str = "submitted"
    started_at: datetime | None = None
    completed_at: datetime | None = None
    closed_at: datetime | None = None
    # When the request entered its current status (its last status event).
    status_since: datetime | None = None
    # The request's own closing time (which periods see it, with the submission's).
    request_closed_at: datetime | None = None
    manual_tasks: int = 0
    # Imported from a previous ticket tool (requests/history.py): people handled it there.
    imported: bool = False
    first_outcome: tuple[datetime, bool] | None = None
    stage_hours: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    recoveries: list[tuple[datetime, float]] = field(default_factory=list)

    @property
    def automated(self) -> bool:
        """Completed with no manual touch: no task here, and not a ticket people handled."""
        return self.manual_tasks == 0 and not self.imported

    @property
    def lead_days(self) -> int:
        assert self.completed_at is not None
        return inclusive_days(self.submitted_at, self.completed_at)

    @property
    def lead_hours(self) -> float:
        assert self.completed_at is not None
        return hours_between(self.submitted_at, self.completed_at)

    @property
    def cycle_start(self) -> datetime:
        assert self.completed_at is not None
        return self.started_at or self.completed_at

    @property
    def cycle_days(self) -> int:
        assert self.completed_at is not None
        return inclusive_days(self.cycle_start, self.completed_at)

    @property
    def cycle_hours(self) -> float:
        assert self.completed_at is not None
        return hours_between(self.cycle_start, self.completed_at)


def replay(
    base: RequestFlow, history: Iterable[tuple[datetime, str]], *, as_of: datetime
) -> RequestFlow:
    """Walk one request's events (when, type), in order, and fill in its flow facts."""
    flow = base
    entered: datetime | None = None
    current: str | None = None
    failed_since: datetime | None = None
    for occurred_at, kind in history:
        if kind == "task.created":
            flow.manual_tasks += 1
            continue
        if kind == "run.attempt_failed":
            if flow.first_outcome is None:
                flow.first_outcome = (occurred_at, False)
            continue
        status = kind.removeprefix("request.")
        if current is not None and entered is not None and current in STAGE_OF_STATUS:
            flow.stage_hours[STAGE_OF_STATUS[current]] += hours_between(entered, occurred_at)
        if status == "submitted":
            flow.submitted_at = occurred_at
        elif status == "in_fulfilment" and flow.started_at is None:
            flow.started_at = occurred_at
        elif status == "failed":
            if flow.first_outcome is None:
                flow.first_outcome = (occurred_at, False)
            failed_since = failed_since or occurred_at
        elif status == "completed":
            flow.completed_at = occurred_at
            if flow.first_outcome is None:
                flow.first_outcome = (occurred_at, True)
            if failed_since is not None:
                flow.recoveries.append((occurred_at, hours_between(failed_since, occurred_at)))
                failed_since = None
        if status in CLOSED:
            flow.closed_at = occurred_at
        current, entered = status, occurred_at
    flow.status = current or flow.status
    flow.status_since = entered or flow.status_since
    if current in STAGE_OF_STATUS and entered is not None and as_of > entered:
        flow.stage_hours[STAGE_OF_STATUS[current]] += hours_between(entered, as_of)
    return flow


@dataclass(frozen=True)
class Scope:
    """Which requests a view counts: some offerings (None = all) over [since, until),
    and the time zone whose days the per-day metrics count (docs/metrics.md, "Days")."""

    since: datetime
    until: datetime
    offering_ids: tuple[int, ...] | None = None
    zone: tzinfo = UTC

    def day_of(self, moment: datetime) -> date:
        """The local day on which ``moment`` falls."""
        return moment.astimezone(self.zone).date()


def _seen(scope: Scope) -> list[ColumnElement[bool]]:
    """The requests a period can see: submitted before its end, not closed before it."""
    seen: list[ColumnElement[bool]] = [
        Request.submitted_at < scope.until,
        or_(Request.closed_at.is_(None), Request.closed_at >= scope.since),
    ]
    if scope.offering_ids is not None:
        seen.append(Request.offering_id.in_(scope.offering_ids))
    return seen


_BASE_COLUMNS = (
    Request.id,
    Request.offering_id,
    Request.team_id,
    OfferingVersion.sle_hours,
    Request.submitted_at,
    Request.closed_at.label("request_closed_at"),
    OfferingVersion.manual_effort_minutes,
    ImportedCase.id.is_not(None).label("imported"),
)


def _base(row: Any) -> RequestFlow:
    return RequestFlow(
        request_id=row.id,
        offering_id=row.offering_id,
        team_id=row.team_id,
        sle_hours=row.sle_hours,
        submitted_at=row.submitted_at,
        effort_minutes=row.manual_effort_minutes or 0,
        imported=bool(row.imported),
        request_closed_at=row.request_closed_at,
    )


def bases(session: Session, *conditions: ColumnElement[bool]) -> dict[int, RequestFlow]:
    """The facts of the matching requests that need no event: nothing replayed yet."""
    query = (
        select(*_BASE_COLUMNS)
        .join(OfferingVersion, OfferingVersion.id == Request.offering_version_id)
        .outerjoin(ImportedCase, ImportedCase.request_id == Request.id)
        .where(*conditions)
    )
    return {row.id: _base(row) for row in session.execute(query)}


def replay_events(
    session: Session,
    flows: dict[int, RequestFlow],
    *conditions: ColumnElement[bool],
    as_of: datetime,
) -> dict[int, datetime]:
    """Replay the events matching ``conditions`` into the flows of their requests, in
    request order; answers each replayed request's latest event time."""
    query = (
        select(Event.request_id, Event.occurred_at, Event.type)
        .where(Event.type.in_(STATUS_EVENTS + OTHER_EVENTS), *conditions)
        .order_by(Event.request_id, Event.occurred_at, Event.id)
        .execution_options(yield_per=EVENTS_PER_FETCH)
    )
    latest: dict[int, datetime] = {}
    # A request with no events keeps its base facts: replaying nothing changes nothing.
    # One submitted between the two reads (a new snapshot per statement on PostgreSQL)
    # may show events here but no base: it is not in this view.
    for request_id, history in groupby(session.execute(query), key=itemgetter(0)):
        if request_id in flows:
            events = [(at, kind) for _, at, kind in history]
            replay(flows[request_id], events, as_of=as_of)
            latest[request_id] = max(at for at, _ in events)
    return latest


def load_replayed(session: Session, scope: Scope) -> list[RequestFlow]:
    """Every request the period can see, replayed from its events: the plain
    computation the roll-up (:func:`load`) is held to, and the baseline it is timed
    against.

    That is every request submitted before the end of the period and not closed before
    its start; the ones closed earlier count only in the cumulative flow, by
    :func:`closed_before`. Only these requests' events are read, streamed in request
    order and replayed one request at a time.
    """
    seen = _seen(scope)
    flows = bases(session, *seen)
    conditions = [
        Event.request_id.in_(select(Request.id).where(*seen)),
        Event.occurred_at < scope.until,
    ]
    if scope.offering_ids is not None:
        conditions.append(Event.offering_id.in_(scope.offering_ids))
    replay_events(session, flows, *conditions, as_of=scope.until)
    return list(flows.values())


ROLLUP_STATE = "request_flow"
# How many requests' events one read replays at a time.
REQUESTS_PER_REPLAY = 2_000


def stale_requests(session: Session) -> set[int] | None:
    """The requests with events the flow roll-up has not read yet (None: it has read
    nothing yet)."""
    watermark = session.scalar(
        select(RollupState.last_event_id).where(RollupState.name == ROLLUP_STATE)
    )
    if watermark is None:
        return None
    return set(
        session.scalars(
            select(Event.request_id)
            .where(
                Event.id > watermark,
                Event.request_id.is_not(None),
                Event.type.in_(STATUS_EVENTS + OTHER_EVENTS),
            )
            .distinct()
        )
    )


def replayed(session: Session, request_ids: Sequence[int], *, until: datetime) -> list[RequestFlow]:
    """These requests replayed from their events before ``until``."""
    flows: dict[int, RequestFlow] = {}
    ids = sorted(request_ids)
    for start in range(0, len(ids), REQUESTS_PER_REPLAY):
        chunk = ids[start : start + REQUESTS_PER_REPLAY]
        found = bases(session, Request.id.in_(chunk))
        replay_events(
            session, found, Event.request_id.in_(chunk), Event.occurred_at < until, as_of=until
        )
        flows.update(found)
    return list(flows.values())


def load(session: Session, scope: Scope) -> list[RequestFlow]:
    """Every request the period can see (as :func:`load_replayed` tells it), read from
    the flow roll-up (analytics/flow_rollup.py) where it holds all the events the
    period sees, and replayed from the events for the rest: the requests with events
    after the period's end (so a past period stays exact), and those with events the
    roll-up has not read yet.
    """
    stale = stale_requests(session)
    row = RequestFlowRow
    query = (
        select(
            *_BASE_COLUMNS,
            row.request_id.label("rolled"),
            row.status,
            row.submitted_at.label("first_submitted_at"),
            row.started_at,
            row.completed_at,
            row.closed_at,
            row.status_since,
            row.last_event_at,
            row.manual_tasks,
            row.first_outcome_at,
            row.first_outcome_success,
            row.approval_hours,
            row.queue_hours,
            row.fulfilment_hours,
            row.recovery_hours,
            row.recoveries,
        )
        .join(OfferingVersion, OfferingVersion.id == Request.offering_version_id)
        .outerjoin(ImportedCase, ImportedCase.request_id == Request.id)
        .outerjoin(row, row.request_id == Request.id)
        .where(*_seen(scope))
    )
    flows: list[RequestFlow] = []
    to_replay: dict[int, RequestFlow] = {}
    until = scope.until
    for found in session.execute(query):
        flow = _base(found)
        if (
            stale is None
            or found.rolled is None
            or found.id in stale
            or (found.last_event_at is not None and found.last_event_at >= until)
        ):
            to_replay[found.id] = flow
            flows.append(flow)
            continue
        flow.status = found.status
        flow.submitted_at = found.first_submitted_at
        flow.started_at = found.started_at
        flow.completed_at = found.completed_at
        flow.closed_at = found.closed_at
        flow.status_since = found.status_since
        flow.manual_tasks = found.manual_tasks
        if found.first_outcome_at is not None:
            flow.first_outcome = (found.first_outcome_at, bool(found.first_outcome_success))
        flow.stage_hours = {
            "approval": found.approval_hours,
            "queue": found.queue_hours,
            "fulfilment": found.fulfilment_hours,
            "recovery": found.recovery_hours,
        }
        if found.recoveries:
            flow.recoveries = [
                (datetime.fromisoformat(at), hours) for at, hours in found.recoveries
            ]
        since = found.status_since
        if flow.status in STAGE_OF_STATUS and since is not None and until > since:
            flow.stage_hours[STAGE_OF_STATUS[flow.status]] += hours_between(since, until)
        flows.append(flow)
    ids = sorted(to_replay)
    for start in range(0, len(ids), REQUESTS_PER_REPLAY):
        chunk = ids[start : start + REQUESTS_PER_REPLAY]
        replay_events(
            session,
            to_replay,
            Event.request_id.in_(chunk),
            Event.occurred_at < until,
            as_of=until,
        )
    return flows


def closed_before(session: Session, scope: Scope) -> dict[str, int]:
    """How many requests :func:`load` leaves out (closed before the period) had arrived,
    started, completed and been dropped: where the cumulative flow starts."""
    conditions = [Request.closed_at < scope.since]
    if scope.offering_ids is not None:
        conditions.append(Request.offering_id.in_(scope.offering_ids))
    completed = Request.status == "completed"
    dropped = Request.status.in_(("rejected", "cancelled"))
    was_started = (
        select(Event.id)
        .where(Event.request_id == Request.id, Event.type == "request.in_fulfilment")
        .exists()
    )
    row = session.execute(
        select(
            func.count(),
            func.count(case((completed, 1))),
            func.count(case((dropped, 1))),
            func.count(case((dropped & was_started, 1))),
        ).where(*conditions)
    ).one()
    arrived, done, gone, gone_after_start = (int(value or 0) for value in row)
    return {
        "arrived": arrived,
        "started": done + gone_after_start,
        "completed": done,
        "dropped": gone,
    }


# --- the metrics ------------------------------------------------------------


def _in(moment: datetime | None, scope: Scope) -> bool:
    return moment is not None and scope.since <= moment < scope.until


def completed_in(flows: Sequence[RequestFlow], scope: Scope) -> list[RequestFlow]:
    done = [flow for flow in flows if _in(flow.completed_at, scope)]
    return sorted(done, key=attrgetter("completed_at", "request_id"))


def days_of(scope: Scope) -> list[date]:
    first = scope.day_of(scope.since)
    last = scope.day_of(scope.until - timedelta(microseconds=1))
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


def throughput_per_day(flows: Sequence[RequestFlow], scope: Scope) -> list[tuple[date, int]]:
    counts = Counter(
        scope.day_of(flow.completed_at)  # type: ignore[arg-type]
        for flow in flows
        if _in(flow.completed_at, scope)
    )
    return [(day, counts.get(day, 0)) for day in days_of(scope)]


def throughput_per_week(flows: Sequence[RequestFlow], scope: Scope) -> list[tuple[str, int]]:
    return weeks_of(throughput_per_day(flows, scope))


def weeks_of(per_day: Iterable[tuple[date, int]]) -> list[tuple[str, int]]:
    """Daily counts summed per ISO week."""
    weeks: dict[str, int] = {}
    for day, count in per_day:
        year, week, _ = day.isocalendar()
        key = f"{year}-W{week:02d}"
        weeks[key] = weeks.get(key, 0) + count
    return list(weeks.items())


def _cumulative(moments: Iterable[datetime | None], days: list[date], scope: Scope) -> list[int]:
    """For each local day, how many of the moments fell on it or before it."""
    counts = Counter(scope.day_of(moment) for moment in moments if moment is not None)
    running = sum(count for day, count in counts.items() if days and day < days[0])
    totals = []
    for day in days:
        running += counts.get(day, 0)
        totals.append(running)
    return totals


def wip_per_day(flows: Sequence[RequestFlow], scope: Scope) -> list[tuple[date, int]]:
    """Requests arrived by the end of the day and not closed by then."""
    days = days_of(scope)
    arrived = _cumulative((flow.submitted_at for flow in flows), days, scope)
    closed = _cumulative((flow.closed_at for flow in flows), days, scope)
    return [(day, a - c) for day, a, c in zip(days, arrived, closed, strict=True)]


def cumulative_flow(
    flows: Sequence[RequestFlow], scope: Scope, *, before: dict[str, int] | None = None
) -> list[dict[str, Any]]:
    """Per day, how many requests had by its end arrived, started, completed, been dropped.

    ``before`` holds the counts of requests closed before the period (closed_before).
    """
    base = before or {}
    days = days_of(scope)
    arrived = _cumulative((flow.submitted_at for flow in flows), days, scope)
    started = _cumulative((flow.started_at or flow.completed_at for flow in flows), days, scope)
    completed = _cumulative((flow.completed_at for flow in flows), days, scope)
    dropped = _cumulative(
        (flow.closed_at for flow in flows if flow.completed_at is None), days, scope
    )
    return [
        {
            "day": day.isoformat(),
            "arrived": base.get("arrived", 0) + arrived[index],
            "started": base.get("started", 0) + started[index],
            "completed": base.get("completed", 0) + completed[index],
            "dropped": base.get("dropped", 0) + dropped[index],
        }
        for index, day in enumerate(days)
    ]


@dataclass(frozen=True)
class OpenItem:
    request_id: int
    offering_id: int
    status: str
    submitted_at: datetime
    age_days: int
    age_hours: float


def open_items(
    flows: Sequence[RequestFlow], *, as_of: datetime, zone: tzinfo = UTC
) -> list[OpenItem]:
    """Work item age of every request not closed at ``as_of``, oldest first.

    ``as_of`` is an exclusive end (now, or the midnight after the period's last day): the
    age counts the calendar days up to the last instant before it, so an item opened on a
    period's last day is one day old at the period's end, not two. The days are the
    local days of ``zone``.
    """
    last_instant = as_of - timedelta(microseconds=1)
    items = [
        OpenItem(
            request_id=flow.request_id,
            offering_id=flow.offering_id,
            status=flow.status,
            submitted_at=flow.submitted_at,
            age_days=inclusive_days(flow.submitted_at, last_instant, zone),
            age_hours=hours_between(flow.submitted_at, as_of),
        )
        for flow in flows
        if flow.submitted_at < as_of and (flow.closed_at is None or flow.closed_at >= as_of)
    ]
    return sorted(items, key=lambda item: (item.submitted_at, item.request_id))


def ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True)
class FlowSummary:
    completed: int
    lead_days: dict[int, float | None]
    lead_hours: dict[int, float | None]
    cycle_days: dict[int, float | None]
    cycle_hours: dict[int, float | None]
    wip: int
    stage_hours: dict[str, float]
    sle_hit_rate: float | None
    automation_rate: float | None
    first_attempt_success: float | None
    recovery_hours: dict[int, float | None]
    recoveries: int


def summary(flows: Sequence[RequestFlow], scope: Scope) -> FlowSummary:
    done = completed_in(flows, scope)
    lead_hours = [flow.lead_hours for flow in done]
    with_sle = [  # against the pinned version's promise (analytics/sle.py)
        sle.kept(hours, flow.sle_hours)
        for flow, hours in zip(done, lead_hours, strict=True)
        if flow.sle_hours is not None
    ]
    outcomes = [
        flow.first_outcome[1]
        for flow in flows
        if flow.first_outcome is not None and _in(flow.first_outcome[0], scope)
    ]
    recovered = [hours for flow in flows for at, hours in flow.recoveries if _in(at, scope)]
    stage_totals = {stage: sum([flow.stage_hours[stage] for flow in done]) for stage in STAGES}
    return FlowSummary(
        completed=len(done),
        lead_days=percentiles([flow.lead_days for flow in done]),
        lead_hours=percentiles(lead_hours),
        cycle_days=percentiles([flow.cycle_days for flow in done]),
        cycle_hours=percentiles([flow.cycle_hours for flow in done]),
        wip=len(open_items(flows, as_of=scope.until)),
        stage_hours=stage_totals,
        sle_hit_rate=ratio(sum(with_sle), len(with_sle)),
        automation_rate=ratio(len([flow for flow in done if flow.automated]), len(done)),
        first_attempt_success=ratio(sum(outcomes), len(outcomes)),
        recovery_hours=percentiles(recovered),
        recoveries=len(recovered),
    )


def lead_time_points(flows: Sequence[RequestFlow], scope: Scope) -> list[dict[str, Any]]:
    """One point per completed request: the scatter and its drill-down."""
    return [
        {
            "request_id": flow.request_id,
            "offering_id": flow.offering_id,
            "completed_at": flow.completed_at.isoformat(),  # type: ignore[union-attr]
            "lead_days": flow.lead_days,
            "lead_hours": round(flow.lead_hours, 4),
            "cycle_days": flow.cycle_days,
            "cycle_hours": round(flow.cycle_hours, 4),
        }
        for flow in completed_in(flows, scope)
    ]


def histogram(values: Iterable[int]) -> list[tuple[int, int]]:
    """How many completed requests took each whole number of days."""
    counts = Counter(values)
    if not counts:
        return []
    return [(days, counts.get(days, 0)) for days in range(1, max(counts) + 1)]


def per_offering(flows: Sequence[RequestFlow], scope: Scope) -> dict[int, FlowSummary]:
    groups: dict[int, list[RequestFlow]] = defaultdict(list)
    for flow in flows:
        groups[flow.offering_id].append(flow)
    return {offering_id: summary(group, scope) for offering_id, group in groups.items()}
