"""The flow roll-up: each request's flow facts, kept current as its events arrive.

``analytics_request_flow`` holds one row per request: its milestones (submitted,
started, completed, closed), its status and since when, manual tasks, its first
outcome, the hours spent in each stage before its current status, and its recoveries,
all replayed (:func:`flow.replay`) from every event of the request the roll-up has read.
:func:`refresh` (called by the worker's sweep through :func:`rollup.refresh`) reads the
settled events after the last one it read, under the same rules as the daily counts,
and replays again only the requests those events belong to. The flow views read these
rows (:func:`flow.load`) and replay from the Event log only the requests with events
after the period's end or not read yet, so every period stays exact; reads never write.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, delete, func, select
from sqlalchemy.orm import Session

from servicebay.analytics import flow
from servicebay.analytics.models import RequestFlowRow, RollupState
from servicebay.core import clock
from servicebay.core.database import insert_or_update
from servicebay.core.events import Event
from servicebay.requests import history
from servicebay.requests.models import Request

# An event at least this old is settled (the daily counts' rule, analytics/rollup.py).
SETTLE = timedelta(minutes=1)
# The roll-up replays this many requests at a time.
REQUESTS_PER_BATCH = 2_000
# One INSERT writes this many rows (17 values each: within SQLite's 32,766).
ROWS_PER_STATEMENT = 1_000
# Replaying into a row adds no time in the current status: reads add it to their end.
_NO_TIME = datetime.min.replace(tzinfo=UTC)


def refresh(session: Session) -> None:
    """Replay again every request with settled events after the last one read."""
    state = _state(session)
    if not _no_import_running(session):
        return
    settled = session.scalar(
        select(func.max(Event.id)).where(
            Event.id > state.last_event_id, Event.occurred_at < clock.now() - SETTLE
        )
    )
    if settled is None:
        return
    touched = sorted(
        request_id
        for request_id in session.scalars(
            select(Event.request_id)
            .where(
                Event.id > state.last_event_id,
                Event.id <= settled,
                Event.request_id.is_not(None),
                Event.type.in_(flow.STATUS_EVENTS + flow.OTHER_EVENTS),
            )
            .distinct()
        )
        if request_id is not None
    )
    for start in range(0, len(touched), REQUESTS_PER_BATCH):
        _fold(session, touched[start : start + REQUESTS_PER_BATCH], up_to=settled)
    state.last_event_id = settled
    session.flush()


def rebuild(session: Session) -> None:
    """Forget the roll-up; the next refresh replays every request again."""
    session.execute(delete(RequestFlowRow))
    session.execute(delete(RollupState).where(RollupState.name == flow.ROLLUP_STATE))


def _no_import_running(session: Session) -> bool:
    """Whether no history import is writing back-dated events (history.hold_off_rollup)."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(session.scalar(select(func.pg_try_advisory_xact_lock(history.ROLLUP_LOCK))))


def _state(session: Session) -> RollupState:
    statement = select(RollupState).where(RollupState.name == flow.ROLLUP_STATE)
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update()
    state = session.scalar(statement)
    if state is None:
        state = RollupState(name=flow.ROLLUP_STATE, last_event_id=0, judged_until=None)
        session.add(state)
        session.flush()
    return state


def _fold(session: Session, request_ids: Sequence[int], *, up_to: int) -> None:
    """Replay these requests from all their events up to ``up_to`` into their rows."""
    flows = flow.bases(session, Request.id.in_(request_ids))
    submitted = {request_id: item.submitted_at for request_id, item in flows.items()}
    latest = flow.replay_events(
        session, flows, Event.request_id.in_(request_ids), Event.id <= up_to, as_of=_NO_TIME
    )
    values = [
        _row(replayed, submitted[request_id], latest.get(request_id))
        for request_id, replayed in flows.items()
    ]
    if not values:
        return
    table = RequestFlowRow.__table__
    assert isinstance(table, Table)
    for start in range(0, len(values), ROWS_PER_STATEMENT):
        insert = insert_or_update(session, table).values(values[start : start + ROWS_PER_STATEMENT])
        session.execute(
            insert.on_conflict_do_update(
                index_elements=["request_id"],
                set_={c: insert.excluded[c] for c in values[0] if c != "request_id"},
            )
        )


def _row(
    replayed: flow.RequestFlow, submitted_at: datetime, last_event_at: datetime | None
) -> dict[str, Any]:
    outcome = replayed.first_outcome
    return {
        "request_id": replayed.request_id,
        "offering_id": replayed.offering_id,
        "request_submitted_at": submitted_at,
        "request_closed_at": replayed.request_closed_at,
        "sle_hours": replayed.sle_hours,
        "effort_minutes": replayed.effort_minutes,
        "imported": replayed.imported,
        "status": replayed.status,
        "submitted_at": replayed.submitted_at,
        "started_at": replayed.started_at,
        "completed_at": replayed.completed_at,
        "closed_at": replayed.closed_at,
        "status_since": replayed.status_since,
        "last_event_at": last_event_at,
        "manual_tasks": replayed.manual_tasks,
        "first_outcome_at": outcome[0] if outcome else None,
        "first_outcome_success": outcome[1] if outcome else None,
        "approval_hours": replayed.stage_hours["approval"],
        "queue_hours": replayed.stage_hours["queue"],
        "fulfilment_hours": replayed.stage_hours["fulfilment"],
        "recovery_hours": replayed.stage_hours["recovery"],
        "recoveries": [[at.isoformat(), hours] for at, hours in replayed.recoveries],
    }
