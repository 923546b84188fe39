"""The daily roll-up gives the same counts as the raw log, before and after new events."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from random import Random
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from servicebay.analytics import adoption, rollup
from servicebay.analytics.scope import Period, period_of_days
from servicebay.core import clock, events
from servicebay.core.identity import Role
from tests.analytics.history import make_history
from tests.factories import make_offering, make_team, make_user

DAY = datetime(2026, 4, 14, 10, tzinfo=UTC)
PERIOD = Period(datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC))


def test_counts_stay_right_as_events_arrive_after_a_refresh_and_after_a_rebuild(
    db: Session,
) -> None:
    clock.freeze(DAY)
    team = make_team(db)
    lead = make_user(db, team=team, role=Role.LEAD)
    offering = make_offering(db, team, lead)
    user = make_user(db, team=make_team(db))
    make_history(db, offering, user, [("submitted", DAY - timedelta(days=2))])
    clock.freeze(DAY + timedelta(minutes=5))
    rollup.refresh(db)  # folds the settled events in

    make_history(db, offering, user, [("submitted", clock.now())])  # not settled yet
    events.record(db, type="offering.viewed", actor_id=user.id, offering_id=offering.id)
    db.flush()
    [row] = adoption.adoption(db, offerings=[offering], period=PERIOD)
    assert (row.submitted, row.views) == (2, 1)

    clock.freeze(DAY + timedelta(hours=1))
    [later] = adoption.adoption(db, offerings=[offering], period=PERIOD)
    assert (later.submitted, later.views) == (2, 1)

    rollup.rebuild(db)
    [rebuilt] = adoption.adoption(db, offerings=[offering], period=PERIOD)
    assert (rebuilt.submitted, rebuilt.views) == (2, 1)


def test_a_form_start_is_judged_abandoned_once_24_hours_pass_without_a_submission(
    db: Session,
) -> None:
    clock.freeze(DAY)
    team = make_team(db)
    lead = make_user(db, team=team, role=Role.LEAD)
    offering = make_offering(db, team, lead)
    user = make_user(db, team=make_team(db))
    events.record(db, type="offering.form_started", actor_id=user.id, offering_id=offering.id)
    db.flush()

    clock.freeze(DAY + timedelta(hours=23))
    rollup.refresh(db)  # as the worker's sweep does
    [early] = adoption.rejection(db, offerings=[offering], period=PERIOD)
    clock.freeze(DAY + timedelta(hours=25))
    [unjudged] = adoption.rejection(db, offerings=[offering], period=PERIOD)
    rollup.refresh(db)
    [late] = adoption.rejection(db, offerings=[offering], period=PERIOD)

    assert (early.form_starts, early.abandoned) == (1, 0)
    assert unjudged.abandoned == 0, "reading insights judges nothing: the sweep does"
    assert (late.form_starts, late.abandoned) == (1, 1)


def test_local_days_count_exactly_around_every_midnight(db: Session) -> None:
    """Views and abandoned form starts near UTC and Rome midnights, over periods of Rome's
    days (one day, a week, across the clock change): the roll-up, with part-days from the
    log, gives what counting the moments themselves gives, folded in or not."""
    rome = ZoneInfo("Europe/Rome")
    clock.freeze(datetime(2026, 11, 20, tzinfo=UTC))
    team = make_team(db)
    lead = make_user(db, team=team, role=Role.LEAD)
    offering = make_offering(db, team, lead)
    user = make_user(db, team=make_team(db))
    draw = Random(14)
    moments = []
    for day in range(20):
        base = datetime(2026, 10, 15, tzinfo=UTC) + timedelta(days=day)
        for hours in (-2.5, -1.5, -0.5, 0.5, 1.5, 21.5, 22.5, 23.5):
            moments.append(base + timedelta(hours=hours, minutes=draw.randint(0, 29)))
    for at in moments:
        events.record(db, type="offering.viewed", actor_id=user.id, offering_id=offering.id, at=at)
        events.record(
            db, type="offering.form_started", actor_id=user.id, offering_id=offering.id, at=at
        )
    db.flush()
    periods = [
        (date(2026, 10, 20), date(2026, 10, 20)),
        (date(2026, 10, 19), date(2026, 10, 25)),
        (date(2026, 10, 24), date(2026, 10, 26)),  # the clock change
    ]

    def expected(first: date, last: date) -> int:
        return sum(1 for at in moments if first <= at.astimezone(rome).date() <= last)

    for folded in (False, True):
        if folded:
            rollup.refresh(db)  # folds the events in and judges every start abandoned
        for first, last in periods:
            period = period_of_days(first, last, zone=rome)
            [row] = adoption.adoption(db, offerings=[offering], period=period)
            [lost] = adoption.rejection(db, offerings=[offering], period=period)
            assert row.views == expected(first, last), (folded, first, last)
            assert lost.abandoned == (expected(first, last) if folded else 0)
