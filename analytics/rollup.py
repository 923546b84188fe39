"""Daily counts per offering, rolled up from the Event log so insights stay fast.

``analytics_daily_count`` holds, per UTC day, offering and event type, how many events
happened (and for ratings their sum). :func:`refresh` folds in settled events (by event
id, up to the newest event at least a minute old, so a transaction still appending events
is not overtaken, and nothing while a history import, whose events are back-dated, is
still writing) and judges form starts whose 24 hours have passed. Reads add the
events after the fold (the last minute or so) straight from the log, so every number is
current. Reads never write: the worker's periodic sweep calls :func:`refresh` (cheap when
nothing is new; it writes only analytics' own tables), so insights can be read from a
replica. ``rebuild`` starts over (after a very long history import).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import Date, Table, case, cast, delete, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from servicebay.analytics import flow_rollup
from servicebay.analytics.models import DailyCount, RollupState
from servicebay.core import clock
from servicebay.core.database import insert_or_update
from servicebay.core.events import Event
from servicebay.requests import history
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
    "request.rated",
)
RATED_LOW = "request.rated_low"  # ratings of 2 or less
ABANDONED = "offering.form_abandoned"  # form starts with no submission within 24 h
LOW_RATING = 2
ABANDON_AFTER = timedelta(hours=24)
SETTLE = timedelta(minutes=1)
STATE = "daily_count"


def _day_of(session: Session, column: Any) -> ColumnElement[Any]:
    if session.get_bind().dialect.name == "sqlite":
        return func.date(column)
    return cast(column, Date)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def refresh(session: Session) -> None:
    """Fold in new events and judge form starts; a no-op when nothing changed."""
    state = _state(session)
    now = clock.now()
    newest = session.scalar(select(func.max(Event.id)).where(Event.id > state.last_event_id))
    if newest is not None and _no_import_running(session):
        settled = session.scalar(
            select(func.max(Event.id)).where(
                Event.id > state.last_event_id, Event.occurred_at < now - SETTLE
            )
        )
        if settled is not None:
            _add(session, _aggregate(session, Event.id > state.last_event_id, Event.id <= settled))
            state.last_event_id = settled
    _judge_form_starts(session, state, now)
    flow_rollup.refresh(session)  # each request's flow facts (analytics/flow_rollup.py)
    session.flush()


def _no_import_running(session: Session) -> bool:
    """Whether no history import is writing back-dated events (history.hold_off_rollup);
    while one is, this refresh folds nothing and reads keep adding the tail."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(session.scalar(select(func.pg_try_advisory_xact_lock(history.ROLLUP_LOCK))))


def rebuild(session: Session) -> None:
    """Forget the roll-up; the next refresh reads the whole Event log again."""
    session.execute(delete(DailyCount))
    session.execute(delete(RollupState))
    flow_rollup.rebuild(session)


def _state(session: Session) -> RollupState:
    statement = select(RollupState).where(RollupState.name == STATE)
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update()
    state = session.scalar(statement)
    if state is None:
        state = RollupState(name=STATE, last_event_id=0, judged_until=None)
        session.add(state)
        session.flush()
    return state


def _aggregate(
    session: Session, *conditions: ColumnElement[bool]
) -> dict[tuple[date, int, str], tuple[int, int]]:
    """(events, rating total) per (day, offering, type) of the counted events matching."""
    day = _day_of(session, Event.occurred_at)
    rating = Event.data["rating"].as_integer()
    rated = Event.type == "request.rated"
    rows = session.execute(
        select(
            day,
            Event.offering_id,
            Event.type,
            func.count(),
            func.coalesce(func.sum(case((rated, rating), else_=0)), 0),
            func.count(case((rated & (rating <= LOW_RATING), 1))),
        )
        .where(Event.type.in_(COUNTED), Event.offering_id.is_not(None), *conditions)
        .group_by(day, Event.offering_id, Event.type)
    ).all()
    found: dict[tuple[date, int, str], tuple[int, int]] = {}
    for row_day, offering_id, kind, count, total, low in rows:
        key = (_as_date(row_day), int(offering_id), str(kind))
        found[key] = (int(count), int(total) if kind == "request.rated" else 0)
        if kind == "request.rated" and low:
            found[(key[0], key[1], RATED_LOW)] = (int(low), 0)
    return found


def _add(session: Session, additions: dict[tuple[date, int, str], tuple[int, int]]) -> None:
    if not additions:
        return
    values = [
        {"day": day, "offering_id": offering_id, "type": kind, "events": count, "total": total}
        for (day, offering_id, kind), (count, total) in additions.items()
    ]
    table = DailyCount.__table__
    assert isinstance(table, Table)
    insert = insert_or_update(session, table)
    statement = insert.on_conflict_do_update(
        index_elements=["day", "offering_id", "type"],
        set_={
            "events": table.c.events + insert.excluded.events,
            "total": table.c.total + insert.excluded.total,
        },
    )
    for start in range(0, len(values), 5000):
        session.execute(statement, values[start : start + 5000])


def _judge_form_starts(session: Session, state: RollupState, now: datetime) -> None:
    """Count, per day and offering, form starts whose 24 h passed with no submission."""
    horizon = now - ABANDON_AFTER
    since = state.judged_until
    if since is not None and since >= horizon:
        return
    abandoned: dict[tuple[date, int, str], tuple[int, int]] = {}
    for offering, at in _abandoned_starts(session, since, horizon, now):
        key = (at.date(), offering, ABANDONED)
        abandoned[key] = (abandoned.get(key, (0, 0))[0] + 1, 0)
    _add(session, abandoned)
    state.judged_until = horizon


def _abandoned_starts(
    session: Session,
    since: datetime | None,
    before: datetime,
    now: datetime,
    offering_ids: Sequence[int] | None = None,
) -> list[tuple[int, datetime]]:
    """(offering, moment) of each form start in [since, before) with no submission by the
    same person within 24 h; ``before`` is at least 24 h ago, so the judgement is final."""
    window: list[ColumnElement[bool]] = [
        Event.type == "offering.form_started",
        Event.occurred_at < before,
        Event.offering_id.is_not(None),
    ]
    if since is not None:
        window.append(Event.occurred_at >= since)
    if offering_ids is not None:
        window.append(Event.offering_id.in_(offering_ids))
    starts = session.execute(
        select(Event.offering_id, Event.actor_id, Event.occurred_at).where(*window)
    ).all()
    if not starts:
        return []
    first = min(at for _, _, at in starts)
    last = min(max(at for _, _, at in starts) + ABANDON_AFTER, now)
    asked: list[ColumnElement[bool]] = [
        Request.submitted_at >= first,
        Request.submitted_at <= last,
    ]
    if offering_ids is not None:
        asked.append(Request.offering_id.in_(offering_ids))
    submissions: dict[tuple[int, int | None], list[datetime]] = defaultdict(list)
    for offering_id, requester_id, at in session.execute(
        select(Request.offering_id, Request.requester_id, Request.submitted_at).where(*asked)
    ):
        submissions[(offering_id, requester_id)].append(at)
    for moments in submissions.values():
        moments.sort()
    found = []
    for started_offering, actor_id, at in starts:
        offering = int(started_offering or 0)
        if not _submitted_within(submissions[(offering, actor_id)], at):
            found.append((offering, at))
    return found


def _submitted_within(moments: Sequence[datetime], start: datetime) -> bool:
    index = bisect.bisect_left(moments, start)
    return index < len(moments) and moments[index] <= start + ABANDON_AFTER


Tail = dict[tuple[date, int, str], tuple[int, int]]


def counts(
    session: Session,
    *,
    offering_ids: Sequence[int],
    first_day: date,
    last_day: date,
    recent: Tail | None = None,
) -> dict[tuple[int, str], tuple[int, int]]:
    """(events, total) per (offering, type) over the days first_day..last_day inclusive:
    the roll-up plus the events not folded in yet."""
    rows = session.execute(
        select(
            DailyCount.offering_id,
            DailyCount.type,
            func.sum(DailyCount.events),
            func.sum(DailyCount.total),
        )
        .where(
            DailyCount.offering_id.in_(offering_ids),
            DailyCount.day >= first_day,
            DailyCount.day <= last_day,
        )
        .group_by(DailyCount.offering_id, DailyCount.type)
    )
    found = {(row[0], row[1]): (int(row[2] or 0), int(row[3] or 0)) for row in rows}
    recent = tail(session, offering_ids) if recent is None else recent
    for (day, offering_id, kind), (count, total) in recent.items():
        if first_day <= day <= last_day:
            events, totals = found.get((offering_id, kind), (0, 0))
            found[(offering_id, kind)] = (events + count, totals + total)
    return found


def counts_between(
    session: Session,
    *,
    offering_ids: Sequence[int],
    since: datetime,
    until: datetime,
    recent: Tail | None = None,
) -> dict[tuple[int, str], tuple[int, int]]:
    """(events, total) per (offering, type) of the events in the instants [since, until),
    exactly, whatever time zone's midnights bound them: the whole UTC days inside from
    the roll-up (plus the events not folded in yet), the part-days at either end counted
    straight from the Event log (at most a day each, so the read stays short)."""
    since, until = since.astimezone(UTC), until.astimezone(UTC)
    whole_from = _midnight(since) if _midnight(since) == since else _midnight(since) + DAY
    whole_until = _midnight(until)
    if whole_from >= whole_until:  # no whole UTC day inside: all of it from the log
        return _from_log(session, offering_ids, since, until)
    found = counts(
        session,
        offering_ids=offering_ids,
        first_day=whole_from.date(),
        last_day=whole_until.date() - DAY,
        recent=recent,
    )
    for start, end in ((since, whole_from), (whole_until, until)):
        if start < end:
            for key, (count, total) in _from_log(session, offering_ids, start, end).items():
                events, totals = found.get(key, (0, 0))
                found[key] = (events + count, totals + total)
    return found


DAY = timedelta(days=1)


def _midnight(moment: datetime) -> datetime:
    return datetime.combine(moment.date(), time.min, UTC)


def _from_log(
    session: Session, offering_ids: Sequence[int], since: datetime, until: datetime
) -> dict[tuple[int, str], tuple[int, int]]:
    """What the roll-up would count for the events in [since, until), read from the log:
    the counted events, low ratings, and the form starts already judged abandoned."""
    found: dict[tuple[int, str], tuple[int, int]] = {}
    window = (Event.occurred_at >= since, Event.occurred_at < until)
    aggregated = _aggregate(session, Event.offering_id.in_(offering_ids), *window)
    for (_, offering_id, kind), (count, total) in aggregated.items():
        events, totals = found.get((offering_id, kind), (0, 0))
        found[(offering_id, kind)] = (events + count, totals + total)
    state = session.scalar(select(RollupState).where(RollupState.name == STATE))
    judged = state.judged_until if state is not None else None
    if judged is not None and judged > since:
        before = min(until, judged)
        for offering_id, _ in _abandoned_starts(
            session, since, before, clock.now(), offering_ids=offering_ids
        ):
            events, _ = found.get((offering_id, ABANDONED), (0, 0))
            found[(offering_id, ABANDONED)] = (events + 1, 0)
    return found


def tail(
    session: Session, offering_ids: Sequence[int]
) -> dict[tuple[date, int, str], tuple[int, int]]:
    """Counts per (day, offering, type) of the events not folded in yet."""
    state = session.scalar(select(RollupState).where(RollupState.name == STATE))
    after = state.last_event_id if state is not None else 0
    return _aggregate(session, Event.id > after, Event.offering_id.in_(offering_ids))


def last_days_with(
    session: Session,
    *,
    offering_ids: Sequence[int],
    kind: str,
    before: date,
    recent: Tail | None = None,
) -> dict[int, date]:
    """The last day before ``before`` on which each offering had an event of ``kind``."""
    rows = session.execute(
        select(DailyCount.offering_id, func.max(DailyCount.day))
        .where(
            DailyCount.offering_id.in_(offering_ids),
            DailyCount.type == kind,
            DailyCount.events > 0,
            DailyCount.day < before,
        )
        .group_by(DailyCount.offering_id)
    )
    last = {row[0]: _as_date(row[1]) for row in rows}
    recent = tail(session, offering_ids) if recent is None else recent
    for (day, offering_id, tail_kind), (count, _) in recent.items():
        if tail_kind == kind and count and day < before and day > last.get(offering_id, date.min):
            last[offering_id] = day
    return last


def last_local_days_submitted(
    session: Session,
    *,
    offering_ids: Sequence[int],
    until: datetime,
    zone: tzinfo,
    recent: Tail | None = None,
) -> dict[int, date]:
    """The local day (in ``zone``) of each offering's last submission before ``until``.

    The roll-up finds the UTC day of the last one; in another zone that UTC day spans two
    local days, so the moment is read from the requests of that one day (an index seek
    per offering)."""
    until = until.astimezone(UTC)
    partial = _midnight(until) < until
    before = _midnight(until).date() + (DAY if partial else timedelta(0))
    found: dict[int, date] = {}
    pending = list(offering_ids)
    for _ in range(2):  # a second pass when the last UTC day's submissions are after until
        utc_days = last_days_with(
            session, offering_ids=pending, kind="request.submitted", before=before, recent=recent
        )
        if zone is UTC and not partial:
            return utc_days
        moments = _last_moments(session, utc_days, until)
        for offering_id, day in utc_days.items():
            moment = moments.get(offering_id)
            if moment is not None:
                found[offering_id] = moment.astimezone(zone).date()
            elif day < before - DAY or not partial:
                found[offering_id] = day  # the roll-up and the requests disagree: keep its day
        pending = [
            offering_id
            for offering_id, day in utc_days.items()
            if offering_id not in found and day == before - DAY
        ]
        if not pending:
            break
        before = before - DAY
        partial = False
    return found


def _last_moments(
    session: Session, utc_days: dict[int, date], until: datetime
) -> dict[int, datetime]:
    """The last submission moment of each offering within its given UTC day (before until)."""
    by_day: dict[date, list[int]] = defaultdict(list)
    for offering_id, day in utc_days.items():
        by_day[day].append(offering_id)
    windows = [
        (Request.offering_id.in_(ids[start : start + 1000]))
        & (Request.submitted_at >= _midnight_of(day))
        & (Request.submitted_at < min(_midnight_of(day) + DAY, until))
        for day, ids in by_day.items()
        for start in range(0, len(ids), 1000)
    ]
    found: dict[int, datetime] = {}
    for start in range(0, len(windows), 200):
        rows = session.execute(
            select(Request.offering_id, func.max(Request.submitted_at))
            .where(or_(*windows[start : start + 200]))
            .group_by(Request.offering_id)
        )
        for offering_id, moment in rows:
            if moment is not None:
                found[int(offering_id)] = moment
    return found


def _midnight_of(day: date) -> datetime:
    return datetime.combine(day, time.min, UTC)
