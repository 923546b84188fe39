"""Work mix and hours saved by automation, from real completions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from servicebay.analytics import flow, value
from servicebay.analytics.scope import Period
from servicebay.core.identity import Role
from tests.analytics.history import make_history
from tests.factories import make_offering, make_team, make_user

MONDAY = datetime(2026, 6, 1, 9, tzinfo=UTC)  # ISO week 2026-W23
PERIOD = Period(datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 6, 15, tzinfo=UTC))


def test_hours_saved_are_automated_completions_times_declared_manual_effort(db: Session) -> None:
    team = make_team(db, "platform")
    lead = make_user(db, team=team, role=Role.LEAD)
    offering = make_offering(db, team, lead, slug="db", manual_effort_minutes=45)
    advice = make_offering(db, team, lead, slug="advice", work_kind="consultative")
    user = make_user(db, team=make_team(db))
    done = [
        ("submitted", MONDAY),
        ("in_fulfilment", MONDAY),
        ("completed", MONDAY + timedelta(hours=1)),
    ]
    for _ in range(3):
        make_history(db, offering, user, done)
    make_history(db, offering, user, [*done[:2], ("task.created", MONDAY), done[2]])
    make_history(
        db,
        offering,
        user,
        [("submitted", MONDAY + timedelta(days=7)), ("in_fulfilment", MONDAY + timedelta(days=7))],
    )
    make_history(db, advice, user, [("submitted", MONDAY + timedelta(days=8))])
    db.flush()

    scope = flow.Scope(PERIOD.since, PERIOD.until, (offering.id, advice.id))
    [saved] = value.time_saved(flow.load(db, scope), scope, offerings=[offering, advice])
    mix = value.work_mix(db, offerings=[offering, advice], period=PERIOD)

    assert (saved.offering_slug, saved.automated_completions, saved.hours_saved) == ("db", 3, 2.25)
    assert [(row.week, row.standard, row.consultative) for row in mix] == [
        ("2026-W23", 4, 0),
        ("2026-W24", 1, 1),
    ]
