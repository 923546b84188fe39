"""A flow view counts the requests its period and offerings see, as they stood then."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from servicebay.analytics import flow
from servicebay.core.identity import Role
from tests.analytics.history import make_history
from tests.factories import make_offering, make_team, make_user

SINCE = datetime(2026, 6, 1, tzinfo=UTC)
UNTIL = datetime(2026, 6, 15, tzinfo=UTC)


def test_flow_of_a_past_period_counts_only_its_offerings_requests_as_they_stood(
    db: Session,
) -> None:
    team = make_team(db, "platform")
    lead = make_user(db, team=team, role=Role.LEAD)
    database = make_offering(db, team, lead, slug="db")
    advice = make_offering(db, team, lead, slug="advice")
    user = make_user(db, team=make_team(db))
    day = timedelta(days=1)
    make_history(  # closed before the period: only in the cumulative flow
        db,
        database,
        user,
        [
            ("submitted", SINCE - 9 * day),
            ("in_fulfilment", SINCE - 8 * day),
            ("completed", SINCE - 7 * day),
        ],
    )
    carried_in = make_history(
        db,
        database,
        user,
        [
            ("submitted", SINCE - 2 * day),
            ("in_fulfilment", SINCE - day),
            ("completed", SINCE + 2 * day),
        ],
    )
    carried_out = make_history(
        db,
        database,
        user,
        [
            ("submitted", UNTIL - 3 * day),
            ("in_fulfilment", UNTIL - 2 * day),
            ("task.created", UNTIL + day),
            ("completed", UNTIL + 2 * day),
        ],
    )
    make_history(  # another offering's request, in the same period
        db,
        advice,
        user,
        [
            ("submitted", SINCE + day),
            ("in_fulfilment", SINCE + day),
            ("completed", SINCE + 3 * day),
        ],
    )
    db.flush()

    scope = flow.Scope(SINCE, UNTIL, (database.id,))
    flows = {request.request_id: request for request in flow.load(db, scope)}

    assert set(flows) == {carried_in.id, carried_out.id}
    assert flows[carried_in.id].completed_at == SINCE + 2 * day
    assert flows[carried_in.id].stage_hours["fulfilment"] == 72
    # At the end of the period it was still being fulfilled, with no manual task yet.
    still_open = flows[carried_out.id]
    assert (still_open.status, still_open.completed_at, still_open.closed_at) == (
        "in_fulfilment",
        None,
        None,
    )
    assert (still_open.manual_tasks, still_open.stage_hours["fulfilment"]) == (0, 48)
    summary = flow.summary(list(flows.values()), scope)
    assert (summary.completed, summary.wip, summary.automation_rate) == (1, 1, 1.0)
    assert flow.closed_before(db, scope) == {
        "arrived": 1,
        "started": 1,
        "completed": 1,
        "dropped": 0,
    }


def test_an_item_opened_on_the_last_day_of_an_ended_period_is_one_day_old_at_its_end(
    db: Session,
) -> None:
    team = make_team(db, "platform")
    lead = make_user(db, team=team, role=Role.LEAD)
    database = make_offering(db, team, lead, slug="db")
    user = make_user(db, team=make_team(db))
    day = timedelta(days=1)
    make_history(db, database, user, [("submitted", UNTIL - day + timedelta(hours=9))])
    make_history(db, database, user, [("submitted", UNTIL - 3 * day + timedelta(hours=9))])
    db.commit()

    scope = flow.Scope(SINCE, UNTIL, (database.id,))
    items = flow.open_items(flow.load(db, scope), as_of=scope.until)

    # Opened on 12 and 14 June, still open when the period ended at the end of 14 June.
    assert [item.age_days for item in items] == [3, 1]
