"""The work queue's figures for monitoring come from the engine, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from servicebay.core import clock
from servicebay.core.identity import Role
from servicebay.requests import service
from servicebay.requests.fulfilment import engine
from tests.factories import make_offering, make_team, make_user
from tests.requests.support import INPUTS


def test_queue_stats_count_due_runs_their_age_and_the_workers_holding_leases(
    db: Session,
) -> None:
    clock.freeze(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    team = make_team(db)
    offering = make_offering(db, team, make_user(db, team=team, role=Role.LEAD))
    casey = make_user(db)
    for _ in range(3):
        service.submit(db, actor=casey, offering_slug=offering.slug, inputs=INPUTS)
    db.commit()
    clock.advance(timedelta(seconds=90))
    engine.claim(db, worker_id="worker-a", limit=1, lease=timedelta(seconds=30))
    db.commit()

    stats = engine.queue_stats(db)

    assert stats.runs_by_status == {"queued": 2, "running": 1}
    assert stats.attempts_by_status == {"running": 1}
    assert stats.due == 2
    assert stats.oldest_due_seconds == 90.0
    assert stats.busy_workers == 1

    clock.advance(timedelta(seconds=31))  # the lease ran out: nobody is busy any more
    assert engine.queue_stats(db).busy_workers == 0


def test_queue_stats_of_an_empty_queue_are_zero(db: Session) -> None:
    stats = engine.queue_stats(db)

    assert (stats.due, stats.oldest_due_seconds, stats.busy_workers) == (0, 0.0, 0)
    assert stats.runs_by_status == {} and stats.attempts_by_status == {}


def test_requests_are_counted_by_offering_and_status(db: Session) -> None:
    team = make_team(db)
    lead = make_user(db, team=team, role=Role.LEAD)
    offering = make_offering(db, team, lead, slug="db")
    casey = make_user(db)
    first = service.submit(db, actor=casey, offering_slug=offering.slug, inputs=INPUTS)
    service.submit(db, actor=casey, offering_slug=offering.slug, inputs=INPUTS)
    service.cancel(db, actor=casey, request_id=first.id)
    db.commit()

    counts = service.counts_by_offering_and_status(db)

    assert sorted(counts) == [("db", "cancelled", 1), ("db", "in_fulfilment", 1)]
