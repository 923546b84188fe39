"""Worker heartbeats: the runs of a worker that stopped beating are taken over without
waiting for their lease, fenced by attempt, on both databases. The processes that are
killed and paused for real are in test_worker_processes.py."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from servicebay.catalog.fulfilment.outcome import Outcome
from servicebay.core import clock
from servicebay.core.database import transaction
from servicebay.core.identity import Role
from servicebay.core.settings import Settings
from servicebay.requests import service
from servicebay.requests.fulfilment import engine
from servicebay.requests.fulfilment.worker import Worker
from servicebay.requests.models import WorkerHeartbeat
from tests.factories import make_offering, make_team, make_user
from tests.requests.support import INPUTS, attempts_of, log_of, runs_of

HOUR = timedelta(hours=1)
DEAD_AFTER = timedelta(seconds=5)


def one_run(db: Session) -> int:
    team = make_team(db)
    offering = make_offering(db, team, make_user(db, team=team, role=Role.LEAD))
    request = service.submit(db, actor=make_user(db), offering_slug=offering.slug, inputs=INPUTS)
    db.commit()
    return request.id


def beat(db: Session, worker_id: str) -> None:
    engine.beat(db, worker_id=worker_id, host="host", pid=1)
    db.commit()


def claim(db: Session, worker_id: str) -> list[engine.ClaimedRun]:
    claimed = engine.claim(
        db, worker_id=worker_id, limit=5, lease=HOUR, stale_before=clock.now() - DEAD_AFTER
    )
    db.commit()
    return claimed


def test_the_run_of_a_worker_whose_heartbeat_is_old_is_taken_over_within_its_lease(
    db: Session,
) -> None:
    clock.freeze(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    request_id = one_run(db)
    beat(db, "worker-a")
    (first,) = claim(db, "worker-a")
    beat(db, "worker-b")
    assert claim(db, "worker-b") == []  # worker-a beats: its run stays with it

    clock.advance(timedelta(seconds=6))  # worker-a stops beating; its lease has an hour left
    beat(db, "worker-b")
    assert claim(db, "worker-a") == []  # a worker never takes its own runs over
    (second,) = claim(db, "worker-b")

    assert (second.id, second.attempt, second.rescued) == (first.id, 2, True)
    assert not engine.finish(db, run=first, outcome=Outcome.succeeded({"by": "a"}))
    assert engine.finish(db, run=second, outcome=Outcome.succeeded({"by": "b"}))
    db.commit()
    (run,) = runs_of(db, request_id)
    assert (run.status, run.attempt, run.rescues) == ("succeeded", 2, 1)
    assert [a.status for a in attempts_of(db, run.id)] == ["lease_expired", "succeeded"]
    assert any(line.startswith("heartbeat missed") for line in log_of(db, run.id))


def test_without_a_verdict_on_heartbeats_only_an_expired_lease_hands_a_run_over(
    db: Session,
) -> None:
    clock.freeze(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    one_run(db)
    beat(db, "worker-a")
    engine.claim(db, worker_id="worker-a", limit=1, lease=HOUR)
    db.commit()
    clock.advance(timedelta(minutes=10))

    assert engine.claim(db, worker_id="worker-b", limit=1, lease=HOUR) == []
    clock.advance(HOUR)
    (taken,) = engine.claim(db, worker_id="worker-b", limit=1, lease=HOUR)
    assert taken.because == "lease expired"


def test_a_worker_that_stops_cleanly_removes_its_heartbeat(
    db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    worker = Worker(sessions, settings.model_copy(update={"worker_heartbeat_seconds": 0.05}))
    stop = threading.Event()
    running = threading.Thread(target=worker.run_forever, args=(stop,))
    running.start()
    try:
        deadline = time.monotonic() + 20
        while not beating(sessions):
            assert time.monotonic() < deadline, "the worker never beat"
            time.sleep(0.05)
        assert beating(sessions) == [worker.worker_id]
    finally:
        stop.set()
        worker.wake()
        running.join(timeout=30)
    assert beating(sessions) == []


def beating(sessions: sessionmaker[Session]) -> list[str]:
    with transaction(sessions) as session:
        return list(session.scalars(select(WorkerHeartbeat.id)))
