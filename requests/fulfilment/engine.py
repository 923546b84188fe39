"""Durable fulfilment runs: enqueue, claim with a lease, finish with fencing.

Every write that ends an attempt is fenced by ``attempt`` and ``status='running'``
(or ``'waiting'`` for callbacks): a worker that was paused past its lease and wakes
up changes nothing, and a terminal run is never left again.
"""

from __future__ import annotations

import hmac
import random
import weakref
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Row, and_, bindparam, delete, func, or_, select, text, tuple_, update
from sqlalchemy.orm import Session, joinedload, lazyload, load_only, sessionmaker

from servicebay.catalog.fulfilment.outcome import Outcome
from servicebay.catalog.models import Offering, OfferingVersion
from servicebay.core import clock, events
from servicebay.core.database import UTCDateTime, after_commit, shared_by_factory, shared_with
from servicebay.core.identity import User, hash_secret
from servicebay.requests import lifecycle
from servicebay.requests.errors import CallbackRefused, RunConflict, RunNotFound
from servicebay.requests.models import (
    AttemptStatus,
    FulfilmentRun,
    Request,
    RequestStatus,
    RunAttempt,
    RunKind,
    RunLogLine,
    RunStatus,
    WorkerHeartbeat,
)

MAX_RESCUES = 3
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 15 * 60.0
WAKE_CHANNEL = "servicebay_runs"
OPEN = (RunStatus.QUEUED.value, RunStatus.RUNNING.value, RunStatus.WAITING.value)
# How a run is loaded when its attempt ends: with its request and what a status change of
# the request reads (the offering's name and owner, the requester's address and name), in
# the same query.
# Anything else of the offering and the requester loads only if something reads it.
WITH_REQUEST = joinedload(FulfilmentRun.request).options(
    joinedload(Request.offering).options(
        load_only(Offering.name, Offering.owner_team_id), lazyload("*")
    ),
    joinedload(Request.requester).options(load_only(User.email, User.display_name), lazyload("*")),
    lazyload(Request.version),
)


class Wakeable(Protocol):
    def wake(self) -> None: ...


@dataclass(eq=False)
class Reach:
    """What the commits of one session factory reach in this process.

    Shared by every session the factory makes, whenever it was made: the workers
    of this process to wake when a commit enqueues a run (workers elsewhere hear a
    PostgreSQL NOTIFY), and whether requesters may be sent e-mail.
    """

    email: bool = False
    base_url: str = "http://127.0.0.1:8000"  # of the portal, for links in messages
    workers: weakref.WeakSet[Wakeable] = field(default_factory=weakref.WeakSet)


REACH = "servicebay.fulfilment.reach"


def reach(sessions: sessionmaker[Session]) -> Reach:
    """The factory's Reach, made on first use."""
    found: Reach = shared_by_factory(sessions).setdefault(REACH, Reach())
    return found


def reach_of(session: Session) -> Reach:
    """The Reach of the factory that made ``session``; an empty one if it has none."""
    found = shared_with(session).get(REACH)
    return found if isinstance(found, Reach) else Reach()


@dataclass(frozen=True)
class Timing:
    """How long to wait between attempts and for callbacks."""

    backoff_base: timedelta = timedelta(seconds=BACKOFF_BASE_SECONDS)
    callback_timeout: timedelta = timedelta(hours=24)


@dataclass(frozen=True)
class ClaimedRun:
    id: int
    attempt: int
    request_id: int | None  # an email about a demand has none
    kind: str
    rescued: bool
    # Why the previous attempt was given up, when the run was taken over.
    because: str = ""
    step: int = 0  # the pipeline step it runs (position from 0)


def enqueue(
    session: Session,
    *,
    request: Request | None,
    max_attempts: int,
    kind: RunKind = RunKind.FULFIL,
    payload: dict[str, Any] | None = None,
    step: int = 0,
    step_name: str = "fulfil",
) -> FulfilmentRun:
    """Create the run in the caller's transaction (transactional outbox); workers are woken
    when, and only if, that transaction commits. Only a message (an email or a chat post)
    may be about no request."""
    if request is None and kind not in (RunKind.EMAIL, RunKind.CHAT):
        raise ValueError("a fulfilment run belongs to a request")
    now = clock.now()
    run = FulfilmentRun(
        request_id=request.id if request is not None else None,
        kind=kind.value,
        payload=payload or {},
        status=RunStatus.QUEUED.value,
        attempt=0,
        max_attempts=max_attempts,
        rescues=0,
        next_attempt_at=now,
        created_at=now,
        step=step,
        step_name=step_name,
    )
    session.add(run)
    session.flush()
    _notify_workers(session)
    return run


def _notify_workers(session: Session) -> None:
    """This process's workers after the commit; on PostgreSQL, every worker by a NOTIFY,
    which the database delivers when (and only if) the transaction commits."""
    for worker in list(reach_of(session).workers):
        after_commit(session, worker.wake)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": WAKE_CHANNEL})


# The statements every attempt runs are built once, with bound parameters: building and
# keying a statement anew costs about as much CPU as sending it.

_WAITING_FOR_A_WORKER = and_(
    FulfilmentRun.status == RunStatus.QUEUED.value,
    FulfilmentRun.next_attempt_at <= bindparam("now"),
)
_LEASE_EXPIRED = and_(
    FulfilmentRun.status == RunStatus.RUNNING.value,
    FulfilmentRun.lease_expires_at < bindparam("now"),
)
# The run's worker stopped beating: it was killed, or is paused, or lost the database. Its
# heartbeat row (one per worker, see beat) is older than ``stale_before``; the worker's
# own runs are never among them.
_WORKER_STOPPED = and_(
    FulfilmentRun.status == RunStatus.RUNNING.value,
    FulfilmentRun.lease_owner.in_(
        select(WorkerHeartbeat.id).where(
            WorkerHeartbeat.beat_at < bindparam("stale_before", type_=UTCDateTime()),
            WorkerHeartbeat.id != bindparam("owner"),
        )
    ),
)
# No heartbeat is that old: only expired leases are taken over.
NEVER_STALE = datetime(1970, 1, 1, tzinfo=UTC)
_LEASE_HELD = and_(
    FulfilmentRun.status == RunStatus.RUNNING.value,
    FulfilmentRun.lease_expires_at > bindparam("now"),
)
_DUE = (
    select(FulfilmentRun.id, FulfilmentRun.status, FulfilmentRun.lease_expires_at)
    .where(or_(_WAITING_FOR_A_WORKER, _LEASE_EXPIRED, _WORKER_STOPPED))
    .order_by(FulfilmentRun.next_attempt_at, FulfilmentRun.id)
    .limit(bindparam("limit"))
    .with_for_update(of=FulfilmentRun, skip_locked=True)
)
_CLAIM = (
    update(FulfilmentRun)
    .where(FulfilmentRun.id.in_(bindparam("run_ids", expanding=True)))
    .values(
        status=RunStatus.RUNNING.value,
        attempt=FulfilmentRun.attempt + 1,
        lease_owner=bindparam("owner"),
        lease_expires_at=bindparam("until", type_=UTCDateTime()),
        started_at=bindparam("claimed_at", type_=UTCDateTime()),
    )
    .returning(
        FulfilmentRun.id,
        FulfilmentRun.attempt,
        FulfilmentRun.request_id,
        FulfilmentRun.kind,
        FulfilmentRun.step,
    )
    .execution_options(synchronize_session=False)
)
# The fence: the run is still running the attempt in the parameters (see _fence).
_HELD = and_(
    FulfilmentRun.id == bindparam("run_id"),
    FulfilmentRun.attempt == bindparam("attempt"),
    FulfilmentRun.status == RunStatus.RUNNING.value,
)
_RUNNING_ROW = (
    select(FulfilmentRun).options(WITH_REQUEST).where(_HELD).with_for_update(of=FulfilmentRun)
)
_ATTEMPT_SUBJECT = (
    select(
        FulfilmentRun.max_attempts,
        FulfilmentRun.payload,
        FulfilmentRun.correlation_id,
        Request.id.label("request_id"),
        Request.inputs,
        Request.instance_id,
        Request.operation,
        Offering.slug.label("offering_slug"),
        OfferingVersion,
        User.username,
        User.email,
        User.display_name,
    )
    .join(Request, Request.id == FulfilmentRun.request_id)
    .join(Offering, Offering.id == Request.offering_id)
    .join(OfferingVersion, OfferingVersion.id == Request.offering_version_id)
    .join(User, User.id == Request.requester_id)
    .where(_HELD)
    .options(
        load_only(
            OfferingVersion.number,
            OfferingVersion.fulfilment,
            OfferingVersion.webhook_secret,
            OfferingVersion.instances,
        ),
        lazyload("*"),
    )
    .with_for_update(of=FulfilmentRun)
)
# An email or a chat message needs only its payload, not the request it tells of.
_MESSAGE_SUBJECT = (
    select(
        FulfilmentRun.max_attempts,
        FulfilmentRun.payload,
        FulfilmentRun.correlation_id,
        FulfilmentRun.request_id,
    )
    .where(_HELD)
    .with_for_update(of=FulfilmentRun)
)
_SET_CALLBACK_TOKEN = (
    update(FulfilmentRun)
    .where(FulfilmentRun.id == bindparam("run_id"))
    .values(callback_token_hash=bindparam("token_hash"))
    .execution_options(synchronize_session=False)
)
# The attempt's row was written by the claim, an earlier transaction: pending changes of
# the ending one cannot touch it, so they need not be flushed first (autoflush off).
_END_ATTEMPT = (
    update(RunAttempt)
    .where(
        RunAttempt.run_id == bindparam("ended_run"),
        RunAttempt.attempt == bindparam("ended_attempt"),
        RunAttempt.status.in_((AttemptStatus.RUNNING.value, AttemptStatus.ACCEPTED.value)),
    )
    .values(
        status=bindparam("ended_as"),
        finished_at=bindparam("ended_at", type_=UTCDateTime()),
        error=bindparam("reason"),
    )
    .execution_options(synchronize_session=False, autoflush=False)
)


def claim(
    session: Session,
    *,
    worker_id: str,
    limit: int,
    lease: timedelta,
    timing: Timing | None = None,
    stale_before: datetime | None = None,
) -> list[ClaimedRun]:
    """Take up to ``limit`` due runs, including runs whose lease expired and, with
    ``stale_before``, runs of workers whose last heartbeat is older than that.

    On PostgreSQL the candidate rows are locked with SKIP LOCKED, so concurrent
    workers never claim the same row and the limit is honoured exactly. A run taken
    over gets a new attempt number, which fences off its previous worker.
    """
    now = clock.now()
    due = session.execute(
        _DUE,
        {
            "now": now,
            "limit": limit,
            "stale_before": stale_before or NEVER_STALE,
            "owner": worker_id,
        },
    ).all()
    if not due:
        return []
    previous = {
        run_id: _taken_over_because(status, lease_expires_at, now)
        for run_id, status, lease_expires_at in due
    }
    rows = session.execute(
        _CLAIM,
        {"run_ids": list(previous), "owner": worker_id, "until": now + lease, "claimed_at": now},
    ).all()
    claimed: list[ClaimedRun] = []
    for run_id, attempt, request_id, kind, step in rows:
        because = previous[run_id]
        run = ClaimedRun(run_id, attempt, request_id, kind, bool(because), because, step)
        if run.rescued and _rescued_too_often(session, run, timing or Timing()):
            continue
        session.add(
            RunAttempt(
                run_id=run.id,
                attempt=run.attempt,
                worker=worker_id[:100],
                status=AttemptStatus.RUNNING.value,
                started_at=now,
            )
        )
        claimed.append(run)
    return claimed


def _taken_over_because(status: str, lease_expires_at: datetime | None, now: datetime) -> str:
    """Why a due run's previous attempt is given up; empty for a run that was queued."""
    if status != RunStatus.RUNNING.value:
        return ""
    if lease_expires_at is not None and lease_expires_at < now:
        return "lease expired"
    return "heartbeat missed"


def _rescued_too_often(session: Session, run: ClaimedRun, timing: Timing) -> bool:
    """Record the lost attempt; park the run as dead if it may be what kills its workers."""
    lost = run.attempt - 1
    _end_attempt(
        session, run.id, lost, AttemptStatus.LEASE_EXPIRED, f"{run.because}: worker stopped"
    )
    row = session.get_one(FulfilmentRun, run.id, populate_existing=True)
    row.rescues += 1
    _record_failed_attempt(session, row, lost, "its worker stopped answering")
    log(
        session,
        run_id=run.id,
        attempt=lost,
        level="warning",
        message=f"{run.because}: the worker of attempt {lost} stopped answering; "
        "the run is taken over",
    )
    if row.rescues >= MAX_RESCUES:
        _end_dead(session, row, f"rescued from {row.rescues} stopped workers; parked as dead")
        return True
    if run.attempt > row.max_attempts:
        _end_dead(session, row, f"all {row.max_attempts} attempts are used up")
        return True
    return False


def beat(session: Session, *, worker_id: str, host: str, pid: int) -> None:
    """Record that the worker is alive (its row is made by the first beat)."""
    now = clock.now()
    beaten = session.execute(
        update(WorkerHeartbeat)
        .where(WorkerHeartbeat.id == worker_id)
        .values(beat_at=now)
        .execution_options(synchronize_session=False)
    )
    if beaten.rowcount == 0:  # type: ignore[attr-defined]
        session.add(WorkerHeartbeat(id=worker_id, host=host, pid=pid, started_at=now, beat_at=now))


def forget_worker(session: Session, *, worker_id: str) -> None:
    """A worker that stops cleanly (its runs ended) removes its heartbeat."""
    session.execute(
        delete(WorkerHeartbeat)
        .where(WorkerHeartbeat.id == worker_id)
        .execution_options(synchronize_session=False)
    )


def forget_stopped_workers(session: Session, *, silent_for: timedelta) -> int:
    """Remove the heartbeats of workers silent for longer than any lease lasts: their runs
    were taken over, or are taken over by their expired lease."""
    forgotten = session.execute(
        delete(WorkerHeartbeat)
        .where(WorkerHeartbeat.beat_at < clock.now() - silent_for)
        .execution_options(synchronize_session=False)
    )
    return int(forgotten.rowcount)  # type: ignore[attr-defined]


def renew_leases(
    session: Session, *, runs: Collection[ClaimedRun], lease: timedelta
) -> set[ClaimedRun]:
    """Extend the lease of each run its attempt still holds; those are returned."""
    renewed = session.execute(
        update(FulfilmentRun)
        .where(
            tuple_(FulfilmentRun.id, FulfilmentRun.attempt).in_([(r.id, r.attempt) for r in runs]),
            FulfilmentRun.status == RunStatus.RUNNING.value,
        )
        .values(lease_expires_at=clock.now() + lease)
        .returning(FulfilmentRun.id, FulfilmentRun.attempt)
        .execution_options(synchronize_session=False)
    ).all()
    held = {(run_id, attempt) for run_id, attempt in renewed}
    return {run for run in runs if (run.id, run.attempt) in held}


def running_row(session: Session, run: ClaimedRun) -> FulfilmentRun | None:
    """The run and its request, the run locked for update, if this attempt still holds it."""
    return session.scalar(_RUNNING_ROW, _fence(run))


def attempt_subject(session: Session, run: ClaimedRun) -> Row[Any] | None:
    """What the attempt's handler needs (run, request, offering, version, requester) in one
    query, with the run locked for update, if this attempt still holds the run."""
    return session.execute(_ATTEMPT_SUBJECT, _fence(run)).one_or_none()


def message_subject(session: Session, run: ClaimedRun) -> Row[Any] | None:
    """What an email or chat attempt needs (its payload), with the run locked for update,
    if this attempt still holds the run."""
    return session.execute(_MESSAGE_SUBJECT, _fence(run)).one_or_none()


def still_held(session: Session, run: ClaimedRun) -> bool:
    """Whether the attempt still holds its run (not cancelled, not taken over)."""
    held = session.scalar(select(FulfilmentRun.id).where(_HELD), _fence(run))
    return held is not None


def signing_secret_of(session: Session, *, request_id: int | None) -> str | None:
    """The signing secret of the version a request pinned (for calls about the request)."""
    if request_id is None:
        return None
    return session.scalar(
        select(OfferingVersion.webhook_secret)
        .join(Request, Request.offering_version_id == OfferingVersion.id)
        .where(Request.id == request_id)
    )


def set_callback_token(session: Session, *, run: ClaimedRun, token_hash: str) -> None:
    """Only the current attempt's token is accepted by callbacks."""
    session.execute(_SET_CALLBACK_TOKEN, {"run_id": run.id, "token_hash": token_hash})


def _fence(run: ClaimedRun) -> dict[str, int]:
    """The parameters of _HELD for this attempt."""
    return {"run_id": run.id, "attempt": run.attempt}


def finish(
    session: Session, *, run: ClaimedRun, outcome: Outcome, timing: Timing | None = None
) -> bool:
    """Record the attempt's outcome. False when the attempt was fenced off."""
    timing = timing or Timing()
    row = running_row(session, run)
    if row is None:
        return False
    if outcome.message:
        level = "info" if outcome.kind in ("succeeded", "accepted") else "error"
        log(session, run_id=row.id, attempt=run.attempt, level=level, message=outcome.message)
    row.lease_owner = None
    row.lease_expires_at = None
    if outcome.kind == "succeeded":
        _succeed(session, row, outcome.outputs)
    elif outcome.kind == "accepted":
        row.status = RunStatus.WAITING.value
        row.next_attempt_at = clock.now() + timing.callback_timeout
        _end_attempt(session, row.id, row.attempt, AttemptStatus.ACCEPTED, None)
        log(
            session,
            run_id=row.id,
            attempt=row.attempt,
            level="info",
            message=f"waiting for a callback until {row.next_attempt_at:%Y-%m-%d %H:%M:%S} UTC",
        )
    else:
        _fail_attempt(
            session,
            row,
            outcome.message or "failed",
            retryable=outcome.kind == "retry",
            timing=timing,
        )
    return True


def expire_waiting(session: Session, *, timing: Timing | None = None, limit: int = 50) -> int:
    """Fail the waiting runs whose callback did not come in time; they retry as usual."""
    timing = timing or Timing()
    rows = list(
        session.scalars(
            select(FulfilmentRun)
            .where(
                FulfilmentRun.status == RunStatus.WAITING.value,
                FulfilmentRun.next_attempt_at <= clock.now(),
            )
            .order_by(FulfilmentRun.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    for row in rows:
        message = "no callback came before the callback timeout"
        log(session, run_id=row.id, attempt=row.attempt, level="error", message=message)
        _fail_attempt(session, row, message, retryable=True, timing=timing)
    return len(rows)


def callback(
    session: Session,
    *,
    run_id: int,
    token: str,
    status: str,
    message: str = "",
    outputs: dict[str, Any] | None = None,
    timing: Timing | None = None,
) -> FulfilmentRun:
    """A receiver reports on the run it accepted: progress, succeeded or failed."""
    row = session.scalar(
        select(FulfilmentRun)
        .options(WITH_REQUEST)
        .where(FulfilmentRun.id == run_id)
        .with_for_update(of=FulfilmentRun)
    )
    if row is None:
        raise RunNotFound(f"no run {run_id}")
    expected = row.callback_token_hash or ""
    if not expected or not hmac.compare_digest(expected, hash_secret(token)):
        raise CallbackRefused("this token does not belong to this run's current attempt")
    if row.status not in (RunStatus.WAITING.value, RunStatus.RUNNING.value):
        raise RunConflict(f"run {run_id} is {row.status} and takes no more callbacks")
    if status == "progress":
        text_ = (message or "working").strip()[:2000]
        log(session, run_id=row.id, attempt=row.attempt, level="info", message=f"progress: {text_}")
        return row
    row.lease_owner = None
    row.lease_expires_at = None
    if status == "succeeded":
        if message:
            log(session, run_id=row.id, attempt=row.attempt, level="info", message=message)
        _succeed(session, row, outputs or {})
        return row
    reason = message or "the receiver reported a failure"
    log(session, run_id=row.id, attempt=row.attempt, level="error", message=f"failed: {reason}")
    _fail_attempt(session, row, reason, retryable=False, timing=timing or Timing())
    return row


def cancel_open_runs(session: Session, *, request_id: int) -> list[FulfilmentRun]:
    """Stop every run of the request that has not ended; a worker still on one is fenced off."""
    rows = list(
        session.scalars(
            select(FulfilmentRun)
            .where(
                FulfilmentRun.request_id == request_id,
                FulfilmentRun.kind == RunKind.FULFIL.value,  # emails already due still go out
                FulfilmentRun.status.in_(OPEN),
            )
            .with_for_update(of=FulfilmentRun)
        )
    )
    now = clock.now()
    for row in rows:
        if row.status == RunStatus.RUNNING.value:
            _end_attempt(session, row.id, row.attempt, AttemptStatus.CANCELLED, "cancelled")
        row.status = RunStatus.CANCELLED.value
        row.finished_at = now
        row.lease_owner = None
        row.lease_expires_at = None
        log(session, run_id=row.id, attempt=row.attempt, level="warning", message="cancelled")
    return rows


def _succeed(session: Session, row: FulfilmentRun, outputs: dict[str, Any]) -> None:
    row.status = RunStatus.SUCCEEDED.value
    row.finished_at = clock.now()
    _end_attempt(session, row.id, row.attempt, AttemptStatus.SUCCEEDED, None)
    if row.kind != RunKind.FULFIL.value:
        return
    # The next step begins in this transaction; the pipeline module enqueues through this one.
    from servicebay.requests.fulfilment import pipeline

    row.outputs = pipeline.bounded(outputs)
    request = row.request
    if request.status != RequestStatus.IN_FULFILMENT.value:
        return
    pipeline.step_succeeded(
        session,
        request=request,
        position=row.step,
        outputs=row.outputs,
        actor_id=None,
        run_id=row.id,
        attempt=row.attempt,
    )


def _fail_attempt(
    session: Session, row: FulfilmentRun, message: str, *, retryable: bool, timing: Timing
) -> None:
    row.last_error = message[:4000]
    row.lease_owner = None
    row.lease_expires_at = None
    _end_attempt(session, row.id, row.attempt, AttemptStatus.FAILED, message)
    _record_failed_attempt(session, row, row.attempt, message)
    if retryable and row.attempt < row.max_attempts:
        delay = backoff(row.attempt, base=timing.backoff_base)
        row.status = RunStatus.QUEUED.value
        row.next_attempt_at = clock.now() + delay
        log(
            session,
            run_id=row.id,
            attempt=row.attempt,
            level="info",
            message=f"attempt {row.attempt} of {row.max_attempts} failed; "
            f"backoff: next attempt in {delay.total_seconds():.1f} s",
        )
        return
    if retryable:
        message = f"all {row.max_attempts} attempts failed; last error: {message}"
    _end_dead(session, row, message)


def _record_failed_attempt(session: Session, row: FulfilmentRun, attempt: int, reason: str) -> None:
    """The request's timeline (and its analytics) shows every failed attempt to fulfil it."""
    if row.kind != RunKind.FULFIL.value:
        return
    events.record(
        session,
        type="run.attempt_failed",
        actor_id=None,
        offering_id=row.request.offering_id,
        request_id=row.request_id,
        data={"run": row.id, "attempt": attempt, "reason": reason[:300]},
    )


def _end_dead(session: Session, row: FulfilmentRun, reason: str) -> None:
    row.status = RunStatus.DEAD.value
    row.finished_at = clock.now()
    row.lease_owner = None
    row.lease_expires_at = None
    row.last_error = reason[:4000]
    log(
        session,
        run_id=row.id,
        attempt=row.attempt,
        level="error",
        message=f"run is dead after attempt {row.attempt}: {reason}",
    )
    if row.kind != RunKind.FULFIL.value:
        return
    request = row.request
    if lifecycle.can_move(request, RequestStatus.FAILED):
        lifecycle.fail(session, request, run_id=row.id, step=row.step_name, reason=reason[:500])


def _end_attempt(
    session: Session, run_id: int, attempt: int, status: AttemptStatus, error: str | None
) -> None:
    session.execute(
        _END_ATTEMPT,
        {
            "ended_run": run_id,
            "ended_attempt": attempt,
            "ended_as": status.value,
            "ended_at": clock.now(),
            "reason": error[:4000] if error else None,
        },
    )


def backoff(
    attempt: int, *, base: timedelta = timedelta(seconds=BACKOFF_BASE_SECONDS)
) -> timedelta:
    """Exponential backoff with jitter in its upper half: base, twice that, four times, and so on"""
    ceiling = min(BACKOFF_CAP_SECONDS, base.total_seconds() * 2 ** (attempt - 1))
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


@dataclass(frozen=True)
class QueueStats:
    """The work queue at one moment, for monitoring."""

    runs_by_status: dict[str, int]
    attempts_by_status: dict[str, int]  # "running": not ended yet
    due: int  # queued, due, and not yet claimed
    oldest_due_seconds: float  # how long the oldest of those has been due; 0 when none
    busy_workers: int  # distinct workers holding a live lease


def queue_stats(session: Session) -> QueueStats:
    now = clock.now()
    at_now = {"now": now}
    runs = session.execute(
        select(FulfilmentRun.status, func.count()).group_by(FulfilmentRun.status)
    ).all()
    attempts = session.execute(
        select(RunAttempt.status, func.count()).group_by(RunAttempt.status)
    ).all()
    due, oldest = session.execute(
        select(func.count(), func.min(FulfilmentRun.next_attempt_at)).where(_WAITING_FOR_A_WORKER),
        at_now,
    ).one()
    busy = session.scalar(
        select(func.count(func.distinct(FulfilmentRun.lease_owner))).where(_LEASE_HELD), at_now
    )
    return QueueStats(
        runs_by_status={status: count for status, count in runs},
        attempts_by_status={status: count for status, count in attempts},
        due=due,
        oldest_due_seconds=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
        busy_workers=busy or 0,
    )


def runs_for_request(session: Session, *, request_id: int) -> list[FulfilmentRun]:
    statement = (
        select(FulfilmentRun)
        .where(FulfilmentRun.request_id == request_id, FulfilmentRun.kind == RunKind.FULFIL.value)
        .order_by(FulfilmentRun.id)
    )
    return list(session.scalars(statement))


def attempts_of(session: Session, *, run_ids: list[int]) -> list[RunAttempt]:
    statement = (
        select(RunAttempt)
        .where(RunAttempt.run_id.in_(run_ids))
        .order_by(RunAttempt.run_id, RunAttempt.attempt)
    )
    return list(session.scalars(statement))


def log_lines(session: Session, *, run_ids: list[int]) -> list[RunLogLine]:
    statement = select(RunLogLine).where(RunLogLine.run_id.in_(run_ids)).order_by(RunLogLine.id)
    return list(session.scalars(statement))
