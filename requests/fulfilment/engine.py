"""Durable fulfilment runs: enqueue, claim with a lease, finish with fencing.

Every write that ends an attempt is fenced by ``attempt`` and ``status='running'``:
a worker that was paused past its lease and wakes up changes nothing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from servicebay.core import clock
from servicebay.requests import lifecycle
from servicebay.requests.models import (
    FulfilmentRun,
    Request,
    RequestStatus,
    RunLogLine,
    RunStatus,
)

MAX_RESCUES = 3
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 15 * 60.0
CALLBACK_TIMEOUT = timedelta(hours=24)


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to."""

    kind: str  # "succeeded" | "accepted" | "retry" | "fatal"
    message: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def succeeded(cls, outputs: dict[str, Any] | None = None, message: str = "") -> Outcome:
        return cls("succeeded", message, outputs or {})

    @classmethod
    def retry(cls, message: str) -> Outcome:
        return cls("retry", message)

    @classmethod
    def fatal(cls, message: str) -> Outcome:
        return cls("fatal", message)


@dataclass(frozen=True)
class ClaimedRun:
    id: int
    attempt: int
    request_id: int
    rescued: bool


def enqueue(session: Session, *, request: Request, max_attempts: int) -> FulfilmentRun:
    """Create the run in the caller's transaction (transactional outbox)."""
    now = clock.now()
    run = FulfilmentRun(
        request_id=request.id,
        status=RunStatus.QUEUED.value,
        attempt=0,
        max_attempts=max_attempts,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(run)
    session.flush()
    return run


def claim(session: Session, *, worker_id: str, limit: int, lease: timedelta) -> list[ClaimedRun]:
    """Take up to ``limit`` due runs, including runs whose lease expired.

    On PostgreSQL the candidate rows are locked with SKIP LOCKED, so concurrent
    workers never claim the same row and the limit is honoured exactly.
    """
    now = clock.now()
    due = session.execute(
        select(FulfilmentRun.id, FulfilmentRun.status)
        .where(
            or_(
                and_(
                    FulfilmentRun.status == RunStatus.QUEUED.value,
                    FulfilmentRun.next_attempt_at <= now,
                ),
                and_(
                    FulfilmentRun.status == RunStatus.RUNNING.value,
                    FulfilmentRun.lease_expires_at < now,
                ),
            )
        )
        .order_by(FulfilmentRun.next_attempt_at, FulfilmentRun.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if not due:
        return []
    previous = {row.id: row.status for row in due}
    rows = session.execute(
        update(FulfilmentRun)
        .where(FulfilmentRun.id.in_(previous))
        .values(
            status=RunStatus.RUNNING.value,
            attempt=FulfilmentRun.attempt + 1,
            lease_owner=worker_id,
            lease_expires_at=now + lease,
            started_at=now,
        )
        .returning(FulfilmentRun.id, FulfilmentRun.attempt, FulfilmentRun.request_id)
    ).all()
    claimed = [
        ClaimedRun(
            id=row[0],
            attempt=row[1],
            request_id=row[2],
            rescued=previous[row[0]] == RunStatus.RUNNING.value,
        )
        for row in rows
    ]
    for run in claimed:
        if run.rescued:
            _rescue(session, run)
    return [run for run in claimed if not _parked(session, run)]


def _rescue(session: Session, run: ClaimedRun) -> None:
    session.execute(
        update(FulfilmentRun)
        .where(FulfilmentRun.id == run.id)
        .values(rescues=FulfilmentRun.rescues + 1)
    )
    log(
        session,
        run_id=run.id,
        attempt=run.attempt - 1,
        level="warning",
        message="lease expired: the worker stopped answering; the run is taken over",
    )


def _parked(session: Session, run: ClaimedRun) -> bool:
    """A run rescued from dead workers too often may be what kills them: park it as dead."""
    row = session.get(FulfilmentRun, run.id)
    if row is None or row.rescues < MAX_RESCUES:
        return False
    _end_dead(session, row, f"rescued from {row.rescues} stopped workers; parked as dead")
    return True


def renew_lease(session: Session, *, run: ClaimedRun, lease: timedelta) -> bool:
    result = session.execute(
        update(FulfilmentRun)
        .where(
            FulfilmentRun.id == run.id,
            FulfilmentRun.attempt == run.attempt,
            FulfilmentRun.status == RunStatus.RUNNING.value,
        )
        .values(lease_expires_at=clock.now() + lease)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def finish(session: Session, *, run: ClaimedRun, outcome: Outcome) -> bool:
    """Record the attempt's outcome. False when the attempt was fenced off."""
    row = session.scalar(
        select(FulfilmentRun)
        .where(
            FulfilmentRun.id == run.id,
            FulfilmentRun.attempt == run.attempt,
            FulfilmentRun.status == RunStatus.RUNNING.value,
        )
        .with_for_update(of=FulfilmentRun)
    )
    if row is None:
        return False
    now = clock.now()
    if outcome.message:
        level = "info" if outcome.kind in ("succeeded", "accepted") else "error"
        log(session, run_id=row.id, attempt=run.attempt, level=level, message=outcome.message)
    row.lease_owner = None
    row.lease_expires_at = None
    if outcome.kind == "succeeded":
        row.status = RunStatus.SUCCEEDED.value
        row.finished_at = now
        request = row.request
        request.outputs = outcome.outputs
        lifecycle.move(
            session,
            request,
            RequestStatus.COMPLETED,
            actor_id=None,
            data={"run_id": row.id, "attempt": run.attempt},
        )
        return True
    if outcome.kind == "accepted":
        row.status = RunStatus.WAITING.value
        row.next_attempt_at = now + CALLBACK_TIMEOUT
        return True
    row.last_error = outcome.message
    if outcome.kind == "retry" and run.attempt < row.max_attempts:
        delay = backoff(run.attempt)
        row.status = RunStatus.QUEUED.value
        row.next_attempt_at = now + delay
        log(
            session,
            run_id=row.id,
            attempt=run.attempt,
            level="info",
            message=f"attempt {run.attempt} of {row.max_attempts} failed; "
            f"next attempt in {delay.total_seconds():.1f} s",
        )
        return True
    _end_dead(session, row, outcome.message or "failed")
    return True


def _end_dead(session: Session, row: FulfilmentRun, reason: str) -> None:
    row.status = RunStatus.DEAD.value
    row.finished_at = clock.now()
    row.lease_owner = None
    row.lease_expires_at = None
    row.last_error = reason
    log(
        session,
        run_id=row.id,
        attempt=row.attempt,
        level="error",
        message=f"run is dead after attempt {row.attempt}: {reason}",
    )
    request = row.request
    if lifecycle.can_move(request, RequestStatus.FAILED):
        lifecycle.move(
            session,
            request,
            RequestStatus.FAILED,
            actor_id=None,
            data={"run_id": row.id, "reason": reason},
        )


def backoff(attempt: int) -> timedelta:
    """Exponential backoff with full jitter in its upper half."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))


def log(session: Session, *, run_id: int, attempt: int, level: str, message: str) -> None:
    session.add(
        RunLogLine(
            run_id=run_id,
            attempt=attempt,
            logged_at=clock.now(),
            level=level,
            message=message[:4000],
        )
    )


def runs_for_request(session: Session, *, request_id: int) -> list[FulfilmentRun]:
    statement = (
        select(FulfilmentRun)
        .where(FulfilmentRun.request_id == request_id)
        .order_by(FulfilmentRun.id)
    )
    return list(session.scalars(statement))


def log_lines(session: Session, *, run_ids: list[int]) -> list[RunLogLine]:
    statement = select(RunLogLine).where(RunLogLine.run_id.in_(run_ids)).order_by(RunLogLine.id)
    return list(session.scalars(statement))


def next_due_at(session: Session) -> datetime | None:
    return session.scalar(
        select(FulfilmentRun.next_attempt_at)
        .where(FulfilmentRun.status == RunStatus.QUEUED.value)
        .order_by(FulfilmentRun.next_attempt_at)
        .limit(1)
    )
