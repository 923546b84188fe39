"""The daily roll-up gives the same counts as the raw log, before and after new events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from servicebay.analytics import adoption, rollup
from servicebay.analytics.scope import Period
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
